"""The load smoke test a model must pass before it is promoted: the service's own loading code
(`serving.predictor.Predictor`: config.yaml, encoder.pt, probes/<task>/seed-<n>.pt) on the model's files, then
one forward pass of a synthetic clip batch through the encoder and every served head. A model the service
could not load (a missing EF probe, weights of another shape, a probe whose width does not match the
encoder, NaN outputs) is refused at packaging, while the previous production model still serves, instead
of being promoted and answering 503 in production.

`release.package.package_candidate(check=...)` runs it on the frozen files; the retrain flow passes
`servable_check(params)`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from serving.config import ServingSettings
from serving.model_files import ModelFilesError


def smoke_test(model_dir: Path, settings: ServingSettings) -> dict:
    """Load `model_dir` as the service would and run one batch; {tasks, missing} on success.

    Raises:
        ModelFilesError: one line naming what the service could not load or compute.
    """
    from serving.predictor import Predictor

    threads = torch.get_num_threads()  # the predictor sets torch's process-wide count; restore it
    try:
        predictor = Predictor(model_dir, settings)
        clips = np.random.default_rng(0).integers(0, 256, (2, *predictor.clip_shape), dtype=np.uint8)
        out = predictor.encode(clips)
    except ModelFilesError:
        raise
    except Exception as exc:  # torch's load / shape errors are many lines: keep the first
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFilesError(
            f"the service could not run this model: {type(exc).__name__}: {first}"
        ) from None
    finally:
        torch.set_num_threads(threads)
    if out.ef.shape != (2,) or not np.isfinite(out.ef).all():
        raise ModelFilesError(
            f"the EF head gave {out.ef.tolist()} for a test batch (2 finite values expected)"
        )
    if out.view_probs.size and not np.allclose(out.view_probs.sum(-1), 1.0, atol=1e-3):
        raise ModelFilesError("the view head's probabilities do not sum to 1 on a test batch")
    return {"tasks": sorted(predictor.heads), "missing": predictor.missing}


def servable_check(settings: ServingSettings) -> Callable[[Path], object]:
    """The check `package_candidate` runs on a candidate's frozen files."""
    return lambda model_dir: smoke_test(Path(model_dir), settings)
