"""The release path writes only at the write points `release.durable` documents, in that order: every file
write, fsync, rename, truncate, open-for-writing, model-store create and witness publish under the test's
folder is caught by wrapping the real calls, and each must happen inside a write point."""

from __future__ import annotations

import builtins
import os
import re
from pathlib import Path

import pytest

from release import durable
from release.ledger import Ledger
from tests.release.releases import decide, files_of, make_run, register


def documented_points() -> list[str]:
    """The labels of the numbered list in release.durable's docstring, in order."""
    return re.findall(r"^\d+\. `([a-z-]+)`", durable.__doc__ or "", flags=re.MULTILINE)


def test_the_docstring_lists_the_release_path() -> None:
    points = documented_points()
    assert points == [
        "candidate-file",
        "candidate-dir",
        "ledger",
        "witness",
        "ledger",
        "witness",
        "model-store",
        "ledger",
        "witness",
    ]


class WriteSpy:
    """Records write points and every real write under `root`; a write outside a write point is a leak."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root, self.points, self.writes, self.leaks = str(root), [], [], []
        self.current: str | None = None
        self.fds: dict[int, str] = {}
        durable.set_fault_hook(self.hook)
        real_open, real_fopen = os.open, builtins.open

        def os_open(path, flags, *args, **kwargs):
            fd = real_open(path, flags, *args, **kwargs)
            if self._mine(path) and flags & (os.O_WRONLY | os.O_RDWR):
                self.fds[fd] = str(path)
            return fd

        def fopen(file, mode="r", *args, **kwargs):
            if isinstance(file, str | Path) and self._mine(file) and set(mode) & set("wax+"):
                self.record("open", file)
            return real_fopen(file, mode, *args, **kwargs)

        def os_close(fd):
            self.fds.pop(fd, None)  # a closed descriptor's number is reused (e.g. a subprocess pipe)
            return real_close(fd)

        real_close = os.close
        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(os, "close", os_close)
        monkeypatch.setattr(builtins, "open", fopen)
        for name in ("write", "fsync", "ftruncate"):
            monkeypatch.setattr(os, name, self._fd_call(name, getattr(os, name)))
        for name in ("replace", "rename"):
            monkeypatch.setattr(os, name, self._path_call(name, getattr(os, name)))
        import importlib

        store = importlib.import_module("bentoml.models")  # the module behind bentoml's lazy attribute
        monkeypatch.setattr(store, "create", self._path_call("model-store", store.create, any))
        from release.witness import FileWitness

        monkeypatch.setattr(FileWitness, "publish", self._path_call("witness", FileWitness.publish, any))

    def _mine(self, path) -> bool:
        return str(path).startswith(self.root)

    def hook(self, label: str, when: str) -> None:
        if when == "before":
            self.points.append(label)
        self.current = label if when == "before" else None

    def record(self, call: str, target) -> None:
        self.writes.append((self.current, call))
        if self.current is None:
            self.leaks.append(f"{call} {target}")

    def _fd_call(self, name, real):
        def wrapped(fd, *args):
            if fd in self.fds:
                self.record(name, self.fds[fd])
            return real(fd, *args)

        return wrapped

    def _path_call(self, name, real, always=None):
        def wrapped(*args, **kwargs):
            if always or any(self._mine(a) for a in args if isinstance(a, str | Path)):
                self.record(name, args[:1])
            return real(*args, **kwargs)

        return wrapped


def test_every_write_of_the_release_path_is_a_documented_point(
    bento_home: Path, ledger: Ledger, tmp_path: Path, keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from release.package import package_candidate

    run = make_run(tmp_path / "runs", 1)
    spy = WriteSpy(tmp_path, monkeypatch)
    try:
        cid = register(ledger, keys, run, "v1")
        decide(ledger, keys, cid)
        package_candidate(ledger, cid, signer=keys.signer("alice"))
    finally:
        durable.set_fault_hook(None)
    files = len(files_of(run))
    assert spy.points == ["candidate-file"] * files + documented_points()[1:]
    assert spy.leaks == [], spy.leaks
    kinds = {call for point, call in spy.writes}
    assert {"write", "fsync", "rename", "model-store", "witness"} <= kinds  # the wrappers did see the writes
    assert sum(1 for point, call in spy.writes if call == "fsync" and point == "ledger") == 3
