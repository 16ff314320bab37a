"""`echojepa ledger recover`: bring a ledger that a crash interrupted back to a state that verifies,
without ever dropping a complete signed line, and record what was done in a `recovered` line.

What a kill can leave (the write points are listed in `release.durable`), and the repair:
- a last line without its newline: if it is a complete entry that verifies as the next line, its newline
  is added; otherwise it is a torn write (never a complete signed line) and is cut off, its size and
  sha256 recorded;
- a model in the store whose head is not in the chain (killed between `model-store` and `ledger`): the
  model's metadata holds the two staged lines; when they continue the chain exactly, they are appended
  verbatim (they are complete and signed);
- heads a witness has not seen (killed between `ledger` and `witness`): published with the `recovered`
  line;
- candidate folders no ledger line names (killed between freezing and the `candidate` line): removed
  once older than `stale_s`, so a registration running right now keeps its files.

Anything else is not a crash: a line in the middle that fails, a witness that recorded more or other
lines, a model head that does not continue the chain. `recover` refuses those with `RecoveryError`
naming the line: restore the ledger from a backup (the witness says which heads it must reproduce).
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass, field

from release.durable import append_durably, truncate_durably
from release.events import Event
from release.ledger import Ledger
from release.ledger_chain import parse_line
from release.signing import Signer


class RecoveryError(ValueError):
    """The ledger's damage is not what a crash leaves (one line naming the line)."""


@dataclass
class Recovery:
    """What `recover` did (empty `actions`: nothing needed doing) and the `recovered` line it wrote."""

    actions: list[str] = field(default_factory=list)
    entry: dict | None = None


def recover(
    ledger: Ledger, signer: Signer, *, model_name: str | None = None, stale_s: float = 3600.0
) -> Recovery:
    """Repair what a crash left in `ledger` (and the model store's `model_name` models); see the module."""
    done = Recovery()
    with ledger._locked(exclusive=True):
        _repair_tail(ledger, done)
        result, replay, seen = ledger.check(ledger._raw_lines(), with_store=False)
        if not result.ok:
            raise RecoveryError(f"cannot recover: {result}; not what a crash leaves, restore from a backup")
        if model_name is not None:
            _roll_forward(ledger, model_name, done)
            result, replay, seen = ledger.check(ledger._raw_lines())
            if not result.ok:
                raise RecoveryError(f"cannot recover: {result}")
        n = len(ledger._raw_lines())
        for witness in ledger.witnesses:
            if seen.get(witness.name, 0) < n:
                done.actions.append(
                    f"{witness.name} had not seen lines {seen.get(witness.name, 0) + 1}-{n}: published"
                )
        _remove_orphans(ledger, set(replay.candidates), stale_s, done)
        if done.actions:
            done.entry = ledger.append(signer, Event.RECOVERED, actions=done.actions)
    return done


def _repair_tail(ledger: Ledger, done: Recovery) -> None:
    data = ledger.raw_bytes()
    if not data or data.endswith(b"\n"):
        return
    cut = data.rfind(b"\n") + 1
    fragment, number = data[cut:], data.count(b"\n") + 1
    lines = [*ledger._raw_lines()]
    complete = not isinstance(parse_line(fragment), str) and ledger.check(lines, with_store=False)[0].ok
    if complete:
        append_durably(ledger.path, b"", label="recover", after_torn="newline")
        done.actions.append(f"line {number} was complete and signed but lacked its newline: ended it")
    else:
        truncate_durably(ledger.path, cut, label="recover")
        digest = hashlib.sha256(fragment).hexdigest()
        done.actions.append(
            f"line {number} was a torn write ({len(fragment)} bytes, sha256 {digest[:16]}…), not a complete "
            "signed entry: cut off"
        )


def _roll_forward(ledger: Ledger, model_name: str, done: Recovery) -> None:
    """Append the staged lines of a model whose head is not in the chain, when they continue it."""
    from release.package import stored_models

    chained = {e["hash"] for e in ledger.entries()}
    for model in stored_models(model_name):
        head = str(model.info.metadata.get("ledger_head") or "")
        if not head or head in chained:
            continue
        staged = [str(line) for line in model.info.metadata.get("ledger_lines") or []]
        parsed = [parse_line(line.encode("utf-8")) for line in staged]
        missing = [
            (line, e)
            for line, e in zip(staged, parsed, strict=True)
            if isinstance(e, dict) and e.get("hash") not in chained
        ]
        tail = ledger.head()
        if not missing or missing[0][1].get("prev") != tail or missing[-1][1].get("hash") != head:
            raise RecoveryError(
                f"cannot recover: model {model.tag} records head {head[:12]}… that does not continue the "
                f"ledger (it ends at {tail[:12]}…): lines were deleted, restore from a backup"
            )
        lines = ledger._raw_lines() + [line.encode("utf-8") for line, _ in missing]
        result = ledger.check(lines, with_store=False)[0]
        if not result.ok:
            raise RecoveryError(f"cannot recover: the staged lines of {model.tag} do not verify ({result})")
        append_durably(
            ledger.path, "".join(f"{line}\n" for line, _ in missing).encode("utf-8"), label="ledger"
        )
        chained |= {e["hash"] for _, e in missing}
        events = ", ".join(str(e["event"]) for _, e in missing)
        done.actions.append(
            f"model {model.tag} was saved but its ledger write was killed: appended its {events}"
        )


def _remove_orphans(ledger: Ledger, known: set[str], stale_s: float, done: Recovery) -> None:
    if not ledger.candidates_dir.is_dir():
        return
    for folder in sorted(ledger.candidates_dir.iterdir()):
        name = folder.name.removeprefix(".").removesuffix(".tmp")
        if name in known and not folder.name.startswith("."):
            continue
        if time.time() - folder.stat().st_mtime < stale_s:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        done.actions.append(
            f"removed {folder.name}: candidate files frozen by a registration that never reached the ledger"
        )
