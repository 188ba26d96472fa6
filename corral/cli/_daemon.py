"""Reaching the daemon from a command: heartbeat, and starting `corral serve` when it is absent.

As Ollama's CLI does, every command but `serve` first checks `HEAD /`. When
nothing answers and the address is on this machine, the daemon is started in
the background (its own session, output appended to `CORRAL_LOG_FILE`) and
polled until it answers. A remote `CORRAL_HOST` is never started, only reported.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from corral import envconfig
from corral.client import Client
from corral.errors import DaemonUnavailable

__all__ = ["START_TIMEOUT", "CliState", "connect", "ensure_running", "spawn_daemon"]

START_TIMEOUT = 30.0
"""Seconds to wait for a freshly started daemon to answer."""

_POLL_INTERVAL = 0.1


@dataclass(slots=True)
class CliState:
    """What the root command hands to subcommands (click's `ctx.obj`).

    Tests pass one to `CliRunner.invoke(cli, args, obj=CliState(...))` to use a
    client on a mock transport or to keep the CLI from starting a daemon.
    """

    autostart: bool = True
    """Start `corral serve` in the background when nothing answers on a loopback address."""
    client: Client | None = None
    """A ready client to use instead of one built from CORRAL_HOST."""


class _Detached(subprocess.Popen[bytes]):
    """A daemon meant to outlive this process: never waited for, so never warned about."""

    def __del__(self) -> None:
        pass


def _unavailable(url: str) -> DaemonUnavailable:
    return DaemonUnavailable(f"could not connect to corral at {url}; is 'corral serve' running?")


def spawn_daemon(command: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `command` detached from this terminal, its output appended to `log_path`.

    Raises:
        DaemonUnavailable: the log file or the process could not be created.
    """
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            return _Detached(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
    except OSError as exc:
        raise DaemonUnavailable(
            f"could not start the corral daemon ({exc.strerror or exc}); log file {log_path}"
        ) from exc


def ensure_running(
    client: Client,
    *,
    autostart: bool = True,
    command: Sequence[str] | None = None,
    timeout: float = START_TIMEOUT,
) -> subprocess.Popen[bytes] | None:
    """Make sure the daemon behind `client` answers; start it if allowed and local.

    Returns the process started, or None when the daemon was already running.

    Raises:
        DaemonUnavailable: it does not answer and could not (or may not) be started,
            or it exited or stayed silent for `timeout` seconds after starting;
            the message names the log file.
    """
    if client.heartbeat():
        return None
    address = envconfig.parse_host(client.base_url)
    if not autostart or not address.is_loopback:
        raise _unavailable(client.base_url)
    log_path = envconfig.log_file()
    process = spawn_daemon(command or [sys.executable, "-m", "corral", "serve"], log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.heartbeat():
            return process
        code = process.poll()
        if code is not None:
            raise DaemonUnavailable(
                f"corral serve exited with status {code} while starting; see {log_path}"
            )
        time.sleep(_POLL_INTERVAL)
    raise DaemonUnavailable(
        f"corral serve did not answer at {client.base_url} within {timeout:.0f} s; see {log_path}"
    )


def connect(ctx: click.Context) -> Client:
    """The client for this command, with the daemon known to be answering."""
    state = ctx.find_object(CliState) or CliState()
    client = state.client
    if client is None:
        client = Client()
        ctx.call_on_close(client.close)
    ensure_running(client, autostart=state.autostart)
    return client
