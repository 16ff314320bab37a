"""The perturbation kinds and severities (one id everywhere: CLI, params, reports, warnings), apart from the
perturbations themselves so that config validation does not import scipy."""

PERTURBATION_KINDS = (
    "depth_attenuation",
    "gaussian_shadow",
    "gain_drift",
    "dynamic_range",
    "blur",
    "sector_dropout",
)
SEVERITIES = ("low", "medium", "high")
