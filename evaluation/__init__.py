"""Evaluation of a candidate encoder: metrics by split, perturbation and subgroup, the baselines of the same
run, the release gates, and the model card (evaluation.json + model_card.html)."""
