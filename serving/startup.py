"""What the service refuses to start with, each refusal one line naming the fix.

- **Exposure.** Listening on anything but loopback without an API key puts an unauthenticated medical
  API on the network (a container's `bentoml serve` listens on 0.0.0.0). Refused unless
  `serving.allow_unauthenticated_public: true`. The address is the one really bound: in a BentoML worker
  the socket it was handed (`--fd`), in the `bentoml serve` process its `--host` (BentoML's default is
  0.0.0.0), so `bentoml serve --host 0.0.0.0`, `echojepa serve --host` and the container all refuse.
- **The de-identification salt.** With `retain_clips` or the Feast push on, study ids become pseudonyms
  that must join with ingest's: serving reads the same salt (ECHOJEPA_DEID_SALT, else
  `ingest.salt_file`) and never mints its own (each replica would have a different one). Missing, or
  shorter than 32 bytes (guessable by brute force over the id space), it is refused.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from pathlib import Path

from serving.config import ServingSettings


class StartupRefused(SystemExit):
    """The service must not start; the message is the one line to print."""


def listening_host(argv: list[str] | None = None) -> str | None:
    """The address this process serves on: the bound socket of a BentoML worker (`--fd N`), the `--host`
    of `bentoml serve`, else BentoML's configured default; None outside `bentoml serve`."""
    argv = sys.argv if argv is None else argv
    if "--fd" in argv:
        fd = int(argv[argv.index("--fd") + 1])
        with socket.socket(fileno=os.dup(fd)) as sock:
            return str(sock.getsockname()[0])
    if "serve" not in argv[1:3]:
        return None
    for i, arg in enumerate(argv):
        if arg == "--host" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--host="):
            return arg.split("=", 1)[1]
    from bentoml._internal.configuration.containers import BentoMLContainer

    return str(BentoMLContainer.http.host.get())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_exposure(settings: ServingSettings, host: str | None) -> None:
    """StartupRefused when `host` is not loopback, no API key is set and the override is off."""
    cfg = settings.serving
    if host is None or is_loopback(host) or os.environ.get(cfg.api_key_env, "").strip():
        return
    if cfg.allow_unauthenticated_public:
        return
    raise StartupRefused(
        f"refusing to serve on {host} without an API key: set {cfg.api_key_env}, listen on 127.0.0.1, "
        f"or set serving.allow_unauthenticated_public: true in {settings.params}"
    )


def read_salt(settings: ServingSettings) -> bytes | None:
    """The de-identification salt ingest uses (ECHOJEPA_DEID_SALT, else ingest.salt_file), never created
    here; None when there is none. StartupRefused when it is shorter than ingest.deid.MIN_SALT_BYTES."""
    from ingest.deid import SALT_ENV, SaltError, check_salt

    env = os.environ.get(SALT_ENV, "").strip()
    source, salt = SALT_ENV, env
    if not env:
        path = Path(settings.salt_file)
        if not path.is_file():
            return None
        source, salt = str(path), path.read_text().strip()
    try:
        return check_salt(salt, source)
    except SaltError as exc:
        raise StartupRefused(str(exc)) from None


def check_startup(settings: ServingSettings, argv: list[str] | None = None) -> None:
    """Both refusals, for the process that is starting (nothing outside `bentoml serve`)."""
    host = listening_host(argv)
    if host is not None:
        check_exposure(settings, host)
        required_salt(settings)


def required_salt(settings: ServingSettings) -> bytes | None:
    """The salt, or StartupRefused when retained clips or the Feast push need one and there is none."""
    salt = read_salt(settings)
    cfg = settings.serving
    uses = (("retain_clips", cfg.retain_clips), ("feast_push", cfg.feast_push != "off"))
    needs = [name for name, on in uses if on]
    if salt is None and needs:
        raise StartupRefused(
            f"no de-identification salt ({' and '.join(needs)} need the one ingest uses): set "
            f"ECHOJEPA_DEID_SALT or run `echojepa secrets init` (it creates {settings.salt_file}); "
            "serving never makes one"
        )
    return salt
