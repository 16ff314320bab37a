"""The shortcut audit (issue 15, item 2): can pixel statistics alone predict the simulator's EF?

Simulates a dataset from the default simulator settings (the cohort and seed of params.yaml's entry for
`data.dataset`, `--videos` studies), computes the pixel-only features of `evaluation.pixel_baselines` on the
platform's clips (`data.frames` × `data.frame_step`, `data.resolution`², `probe.clips_per_video` clips),
fits every estimator on TRAIN+VAL (tuned by 5-fold CV on TRAIN) and scores it on TEST beside the mean
predictor, with paired-bootstrap 95 % CIs over TEST videos. The same features with EF shuffled across videos
are the negative control: there the audit must say "no shortcut", or the audit itself is broken.

Done when (issue 15): every pixel-only estimator's TEST MAE ≥ 0.85 × the mean predictor's on ≥ 1,000 videos
with ≥ 150 TEST.

    python -m benchmarks.shortcut_audit --videos 1200 --out reports/benchmarks/shortcut_audit.json
    python -m benchmarks shortcut_audit   # the default size, merged into reports/benchmarks.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.bench_simulator import cpu_count
from config.params import load_params
from evaluation.pixel_baselines import pixel_features, shortcut_audit, shuffled_labels
from ultrasound.dataset import simulate_dataset

DEFAULT_VIDEOS = (
    1200  # the Done-when size: ≥ 1,000 videos and ≥ 150 TEST (1,000 give 130 TEST at 12.5 %; 1,200: 161)
)
MIN_VIDEOS, MIN_TEST = 1000, 150
MAX_RATIO = 0.85  # the bound: a pixel-only estimator below it is a shortcut


def run(videos: int = DEFAULT_VIDEOS, params_file: Path = Path("params.yaml"), draws: int = 2000) -> dict:
    """The audit and its negative control on a freshly simulated dataset, as a JSON-ready dict."""
    params = load_params(params_file)
    entry = params.simulate.datasets.get(params.data.dataset)
    cohort, seed = (entry.cohort, entry.seed) if entry is not None else ("adult", 0)
    tmp = Path(tempfile.mkdtemp(prefix="bench_shortcut_"))
    try:
        start = time.perf_counter()
        simulate_dataset(tmp, videos, seed=seed, cohort=cohort, workers=cpu_count())
        simulated = time.perf_counter()
        table = pd.read_csv(tmp / "FileList.csv")
        pretrain = params.pretrain
        features = pixel_features(
            tmp, list(table.FileName), pretrain.data, pretrain.model, params.probe.clips_per_video
        )
        featured = time.perf_counter()
        audit = shortcut_audit(features, table, MAX_RATIO, seed=0, draws=draws)
        control = shortcut_audit(features, shuffled_labels(table, seed=0), MAX_RATIO, seed=0, draws=draws)
        done = time.perf_counter()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    d = pretrain.data
    return {
        "dataset": f"{videos} videos, {cohort} cohort, seed {seed} (params.yaml: {params.data.dataset})",
        "clips": f"{params.probe.clips_per_video} × {d.frames}×{d.resolution}² every {d.frame_step} frames, "
        f"tubelet {pretrain.model.tubelet}×{pretrain.model.patch_size}²",
        "audit": audit.report(),
        "shuffled_labels_control": control.report(),
        "done_when_every_ratio_at_least": MAX_RATIO,
        "done_when_size_met": videos >= MIN_VIDEOS and audit.test_videos >= MIN_TEST,
        "done_when_met": audit.verdict == "no shortcut"
        and videos >= MIN_VIDEOS
        and audit.test_videos >= MIN_TEST,
        "control_ok": control.verdict == "no shortcut",
        "seconds": {
            "simulate": round(simulated - start, 1),
            "features": round(featured - simulated, 1),
            "audits": round(done - featured, 1),
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=DEFAULT_VIDEOS, help="studies to simulate (≥ 150 TEST)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--draws", type=int, default=2000, help="paired-bootstrap resamples")
    parser.add_argument("--out", type=Path, default=Path("reports/benchmarks/shortcut_audit.json"))
    args = parser.parse_args(argv)
    if args.videos < 40:
        raise SystemExit(f"--videos {args.videos}: too few for 5-fold CV on TRAIN and a TEST split (≥ 40)")
    result = run(args.videos, args.params, args.draws)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    audit = result["audit"]
    mean_mae, test = audit["mean_predictor_mae"], audit["test_videos"]
    print(f"verdict: {audit['verdict']} (mean predictor MAE {mean_mae}, {test} TEST videos)")
    for name, e in audit["estimators"].items():
        ratio, ci = e["ratio_to_mean_predictor"], e["mae_difference_ci95"]
        print(f"  {name}: MAE {e['mae']}  ratio {ratio}  MAE − mean predictor's, 95 % CI {ci}")
    print(f"shuffled-label control: {result['shuffled_labels_control']['verdict']}; wrote {args.out}")


if __name__ == "__main__":
    main()
