"""`python -m serving.bento_cli ARGS`: BentoML's own command line with a Prometheus folder per server.

BentoML keeps the multiprocess metrics of every server in one folder,
`$BENTOML_HOME/prometheus_multiproc_dir`, and empties it whenever any server starts. A second service on the
same model store (another replica on the host, a canary, the demo beside a test run) therefore silently
wiped the running one's files: its /metrics lost every `echojepa_*` counter while the workers went on
counting into deleted files. Measured in the test suite: the session server's bad-input and warning
counters read 0 after another `echojepa serve` had started.

Each server gets a sibling folder of its own, `prometheus_multiproc_dir-<host>-<port>` (one server per
address), which only its own start empties. `echojepa serve` execs this module instead of `bentoml`."""

from __future__ import annotations

import os
import sys


def _option(argv: list[str], name: str, default: str) -> str:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


def server_metrics_dir(base: str, argv: list[str]) -> str:
    """The per-server Prometheus folder for a `serve` command line (BentoML's defaults: 0.0.0.0:3000)."""
    host, port = _option(argv, "--host", "0.0.0.0"), _option(argv, "--port", "3000")
    safe = "".join(c if c.isalnum() or c in ".-" else "_" for c in f"{host}-{port}")
    return f"{base.rstrip(os.sep)}-{safe}"


def main(argv: list[str] | None = None) -> None:
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml_cli.cli import cli

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        base = str(BentoMLContainer.prometheus_multiproc_dir.get())
        BentoMLContainer.prometheus_multiproc_dir.set(server_metrics_dir(base, args))
    cli(args, prog_name="bentoml")


if __name__ == "__main__":
    main()
