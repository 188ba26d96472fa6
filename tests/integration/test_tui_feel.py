"""Command palette, remapped keys, the `corral` / `corral tui` entry points."""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect
import pytest
from click.testing import CliRunner

from corral.cli.main import cli
from corral.sessions import SessionStore
from corral.tui import CorralApp
from corral.tui.chat_screen import ChatScreen
from corral.tui.config import keymap
from corral.tui.models_screen import ModelsScreen
from tests.integration.conftest import Daemon
from tests.integration.tui_helpers import make_app, wait_for

pytestmark = pytest.mark.integration


async def test_command_palette_runs_an_action(daemon: Daemon, tmp_path: Path) -> None:
    app = make_app(daemon, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await pilot.press("ctrl+p", *"New chat")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.tabs.tab_count == 2)
        await pilot.press("ctrl+p", *"Models")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen))


async def test_remapped_keys_from_the_config(daemon: Daemon, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[tui.keys]\nnew_chat = "ctrl+t"\nmodels = "f9"\n')
    keys = keymap(config, known=set(CorralApp.binding_ids()))
    app = CorralApp(daemon.host, store=SessionStore(tmp_path / "s.db"), keymap=keys)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert screen.tabs.tab_count == 1
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: screen.tabs.tab_count == 2)
        await pilot.press("f2")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen))


async def test_save_keys_writes_every_binding(
    daemon: Daemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORRAL_HOME", str(tmp_path / "home"))
    app = CorralApp(
        daemon.host, store=SessionStore(tmp_path / "s.db"), keymap={"new_chat": "ctrl+t"}
    )
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_save_keys()
        await pilot.pause()
    saved = keymap(tmp_path / "home" / "config.toml", known=set(CorralApp.binding_ids()))
    assert saved["new_chat"] == "ctrl+t"
    assert saved["models"] == "f2"


def test_bad_config_stops_corral_tui_with_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORRAL_HOME", str(tmp_path))
    (tmp_path / "config.toml").write_text('[tui.keys]\nno_such_action = "ctrl+t"\n')
    result = CliRunner().invoke(cli, ["tui"])
    assert result.exit_code == 1
    assert "'no_such_action' is not a binding" in result.output


def test_corral_without_arguments_on_a_terminal_opens_the_tui(
    daemon: Daemon, tmp_path: Path
) -> None:
    env = daemon.env()
    env.update(CORRAL_HOME=str(tmp_path), TERM="xterm-256color", PYTHONPATH=str(Path.cwd()))
    child = pexpect.spawn(
        sys.executable, ["-m", "corral"], env=env, dimensions=(24, 80), timeout=60
    )
    try:
        child.expect_exact(daemon.url)  # the header's subtitle: the app is drawn
        child.sendcontrol("q")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_corral_without_arguments_piped_prints_help(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 0
    assert "Usage:" in result.output
