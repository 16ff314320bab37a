"""The probe stage: the one probe protocol on the run's token cache, its served probes saved into the run
layout (models/RUN/probes/<task>/seed-<n>.pt plus the training frame), metrics and TEST predictions into
reports/probes/. `echojepa probe` and the DVC stage `probe` call `run_probe_stage`."""

from __future__ import annotations

import json
import shutil

import numpy as np

from config.params import Params
from evaluation.probe_protocol import (
    FrameSource,
    TaskProbes,
    fit_protocol,
    predictions,
    protocol_summary,
    selections,
    task_report,
)
from evaluation.results import jsonable
from model.config import token_time_steps


def run_probe_stage(params: Params, frame_source: FrameSource, label_source: str = "manifest") -> list[str]:
    """Fit, save and report; returns the lines the command prints."""
    layout = params.layout()
    embeddings = layout.embeddings_dir
    if not (embeddings / "tokens.npy").is_file():
        raise ValueError(f"{embeddings}: no tokens.npy (run echojepa embed first)")
    tokens = np.load(embeddings / "tokens.npy", mmap_mode="r")
    frame = frame_source(embeddings)
    result = fit_protocol(tokens, frame, params.probe, token_time_steps(params.pretrain))
    if "ef" not in result.ensembles():  # the one head every served model needs: refuse before deleting
        raise ValueError(f"no EF probe could be fitted: {result.tasks.get('ef', 'ef is not in probe.tasks')}")
    if layout.probes_dir.exists():  # a task measured last time but not now must not leave its old probes
        shutil.rmtree(layout.probes_dir)
    protocol = protocol_summary(params.probe)
    lines = [protocol["text"]]
    for task, ensemble in result.ensembles().items():
        saved = ensemble.save_dir(layout.probes_dir / task)
        lines.append(f"saved {len(saved)} {task} probes (seeds {', '.join(map(str, ensemble.seeds))}) in "
                     f"{layout.probes_dir / task}")  # fmt: skip
    frame.to_csv(layout.probe_frame, index=False)
    metrics = {
        "embeddings": str(embeddings), "label_source": label_source, "probe": result.spec.__dict__,
        "probe_protocol": protocol,
        "tasks": {task: task_report(r) for task, r in result.tasks.items()},
    }  # fmt: skip
    layout.probe_metrics.parent.mkdir(parents=True, exist_ok=True)
    layout.probe_metrics.write_text(json.dumps(jsonable(metrics), indent=2) + "\n")
    for task, task_result in result.tasks.items():
        if not isinstance(task_result, TaskProbes):
            lines.append(f"{task}: {task_result}")
            continue
        predictions(task_result, frame).to_csv(layout.probe_predictions(task), index=False)
        for fraction, row in task_result.by_fraction.items():
            shown = {k: f"{v['mean']:.3f}±{v['std']:.3f}" for k, v in row.items() if isinstance(v, dict)}
            lines.append(f"{task} @ {float(fraction):.0%} labels: {shown}")
        served = {k: f"{v['value']:.3f}" for k, v in task_result.metrics.items()}
        lines.append(f"{task} served ensemble of {len(task_result.ensemble.seeds)} (TEST): {served}")
        chosen = [s for s in selections(task_result.ensemble) if "metric" in s]
        if chosen:
            lines.append(f"{task} heads selected on VAL: " + "; ".join(
                f"seed {s['seed']}: lr {s['lr']:g}, wd {s['weight_decay']:g} ({s['metric']} {s['value']:.3f})"
                for s in chosen))  # fmt: skip
    lines.append(f"wrote {layout.probe_metrics}")
    return lines
