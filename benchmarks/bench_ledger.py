"""What signatures cost the release ledger: verifying a ledger of N lines from a cold process (every
signature checked once by `ssh-keygen -Y verify`), again in the same process (cached), and one append.

    python -m benchmarks ledger          # writes reports/benchmarks/ledger.json

The ledger holds CANDIDATES registrations, each with a reviewer's signed approval (two signatures to check
for an approval line: the line's and the decision document's), behind a witness file, with fresh ed25519
keys. Cold verification runs in a new interpreter and times only the `verify()` call.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CANDIDATES = 100
APPENDS = 20

_COLD = """
import sys, time
from release.ledger import Ledger
from release.witness import FileWitness
start = time.perf_counter()
result = Ledger(sys.argv[1], witnesses=[FileWitness(sys.argv[2])]).verify()
print(time.perf_counter() - start, result.ok)
"""


def _keys(folder: Path) -> str:
    roles = {"alice": "echojepa-initiator", "bob": "echojepa-review", "dana": "echojepa-release-manager"}
    lines = []
    for name, role in roles.items():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
        lines.append(
            f'{name} namespaces="{role}" {" ".join((folder / f"{name}.pub").read_text().split()[:2])}\n'
        )
    return "".join(lines)


def run() -> dict:
    from release.decisions import record_decision, sign_decision, start_ledger
    from release.ledger import Ledger
    from release.signing import Signer
    from release.witness import FileWitness

    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        root = Path(tmp)
        signers = _keys(root)
        alice, bob, dana = (Signer(root / n) for n in ("alice", "bob", "dana"))
        path, witness = root / "registry" / "ledger.jsonl", root / "witness"
        ledger = Ledger(path, witnesses=[FileWitness(witness)])
        start_ledger(ledger, dana, signers)
        start = time.perf_counter()
        for i in range(CANDIDATES):
            ledger.append(alice, "candidate", candidate_id=f"cand-{i:08x}", model_version=f"v{i}", gates=[])
            record_decision(ledger, sign_decision(ledger, bob, "approve", f"cand-{i:08x}"), signer=alice)
        build_s = time.perf_counter() - start
        lines = len(ledger.entries())
        cold = subprocess.run(
            [sys.executable, "-c", _COLD, str(path), str(witness)], capture_output=True, text=True, check=True
        ).stdout.split()
        start = time.perf_counter()
        assert ledger.verify().ok
        warm_s = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(APPENDS):
            ledger.append(alice, "candidate", candidate_id=f"extra-{i}", model_version="x", gates=[])
        append_s = (time.perf_counter() - start) / APPENDS
    result = {
        "lines": lines,
        "signatures": lines + CANDIDATES,  # every line, plus each approval's decision document
        "verify_cold_s": round(float(cold[0]), 3),
        "verify_cold_ms_per_signature": round(1000 * float(cold[0]) / (lines + CANDIDATES), 2),
        "verify_warm_s": round(warm_s, 4),
        "append_s": round(append_s, 4),
        "build_s_per_candidate_and_approval": round(build_s / CANDIDATES, 3),
        "cold_ok": cold[1] == "True",
    }
    out = Path("reports/benchmarks/ledger.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
