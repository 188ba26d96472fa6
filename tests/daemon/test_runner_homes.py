"""A killed daemon's runner directories are swept at the next start, and nothing else is."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.daemon.runners import remove_stale_runner_homes


@pytest.fixture
def tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.fixture
def listener(tmp: Path) -> Iterator[Path]:
    """A runner directory whose socket is being listened on."""
    home = _home(tmp, "corral-runner-live")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(home / "socket"))
        sock.listen()
        _age(home)
        yield home


def _home(root: Path, name: str) -> Path:
    home = root / name
    home.mkdir(mode=0o700)
    return home


def _age(path: Path, seconds: float = 120) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_an_old_directory_nobody_listens_in_is_removed(tmp: Path) -> None:
    empty = _home(tmp, "corral-runner-empty")
    dead = _home(tmp, "corral-runner-dead")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(dead / "socket"))  # the file stays once the socket is closed
    for home in (empty, dead):
        _age(home)
    assert remove_stale_runner_homes() == 2
    assert not empty.exists() and not dead.exists()


def test_a_live_runner_a_new_directory_and_other_files_are_kept(tmp: Path, listener: Path) -> None:
    fresh = _home(tmp, "corral-runner-starting")  # another daemon is about to bind here
    other = _home(tmp, "someone-else")
    not_a_dir = tmp / "corral-runner-file"
    not_a_dir.write_text("x")
    link = tmp / "corral-runner-link"
    link.symlink_to(other)
    for path in (other, not_a_dir):
        _age(path)
    assert remove_stale_runner_homes() == 0
    assert all(p.exists() for p in (listener, fresh, other, not_a_dir, link))
