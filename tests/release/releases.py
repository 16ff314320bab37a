"""Building blocks of release tests: a run folder with every packaged file, a registration signed by an
initiator, a decision signed by a reviewer and delivered by the run, a full release into the store, and a
line forged by hand as an adversary holding a valid key would write it."""

from __future__ import annotations

import json
from pathlib import Path

from release.decisions import record_decision, register_candidate, sign_decision
from release.events import Role
from release.ledger import Ledger
from release.ledger_chain import canonical_json, entry_hash, signed_bytes, utc_now
from release.manifest import run_files

GATES = [{"name": "ef_mae", "value": 8.0, "threshold": 10.0, "passed": True}]
FAILED = [*GATES, {"name": "margin_vs_mean", "value": 0.01, "threshold": 0.1, "passed": False}]


def make_run(root: Path, seed: int) -> Path:
    """A run folder: encoder, target encoder, config, two probes, evaluation.json, reference, model card."""
    run = Path(root) / f"run{seed}"
    for task in ("ef", "view"):  # as the probe stage serves them: probes/<task>/seed-<n>.pt
        (run / "probes" / task).mkdir(parents=True, exist_ok=True)
    (run / "encoder.pt").write_bytes(bytes([seed]) * 64)
    (run / "target_encoder.pt").write_bytes(bytes([seed + 1]) * 64)
    (run / "config.yaml").write_text(f"seed: {seed}\n")
    (run / "probes" / "ef" / "seed-0.pt").write_bytes(b"ef-probe-%d" % seed)
    (run / "probes" / "view" / "seed-0.pt").write_bytes(b"view-probe-%d" % seed)
    metrics = {"test": {"ef_mae": {"mean": 8.1, "std": 0.2}, "view_acc": 0.7}, "n": 47, "note": "x"}
    (run / "evaluation.json").write_text(
        json.dumps({"metrics": metrics, "gates": GATES, "model_version": f"v{seed}"})
    )
    (run / "reference.parquet").write_bytes(b"PAR1-reference-%d" % seed)
    (run / "model_card.html").write_text(f"<h1>v{seed}</h1>")
    return run


def files_of(run: Path) -> dict[str, Path]:
    extra = {n: run / n for n in ("evaluation.json", "reference.parquet", "model_card.html")}
    return run_files(run, **extra)


def register(ledger: Ledger, keys, run: Path, version: str, *, who: str = "alice", gates=GATES) -> str:
    return register_candidate(
        ledger,
        signer=keys.signer(who),
        files=files_of(run),
        model_version=version,
        data_version="d1",
        git_commit="c0ffee",
        gates=gates,
        metrics={"test": {"ef_mae": 8.0}},
        params={"pretrain": {"epochs": 1}},
        data_hashes={"data/raw/synthetic": "abc123.dir"},
    )


def decide(
    ledger: Ledger, keys, cid: str, action: str = "approve", *, reviewer: str = "bob", by: str = "alice", **kw
) -> dict:
    """`reviewer` signs the decision, `by` (the waiting run's key) writes it into the ledger."""
    text = sign_decision(ledger, keys.signer(reviewer), action, cid, **kw)
    return record_decision(ledger, text, signer=keys.signer(by))


def release(ledger: Ledger, keys, root: Path, seed: int, *, who: str = "alice", reviewer: str = "bob"):
    """Register run `seed` as `v<seed>`, approve it, package it: (candidate id, bento tag)."""
    from release.package import package_candidate

    cid = register(ledger, keys, make_run(root, seed), f"v{seed}", who=who)
    decide(ledger, keys, cid, reviewer=reviewer, by=who)
    return cid, package_candidate(ledger, cid, signer=keys.signer(who))


def forge(ledger: Ledger, keys, who: str, role: str, event: str, signers: str | None = None, **fields) -> int:
    """Append a line signed by `who` in `role`, chained onto the ledger's head; returns its line number."""
    entries = ledger.entries()
    entry = {
        "seq": len(entries) + 1,
        "time": utc_now(),
        "event": event,
        **fields,
        "signers": signers or entries[-1]["signers"],
        "signer": who,
        "role": role,
        "prev": entries[-1]["hash"],
    }
    entry["sig"] = keys.signer(who).sign(signed_bytes(entry), Role(role))
    entry["hash"] = entry_hash(entry)
    with ledger.path.open("a") as fh:
        fh.write(canonical_json(entry) + "\n")
    return entry["seq"]
