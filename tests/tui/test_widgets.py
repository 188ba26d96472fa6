"""Widgets on their own: streamed Markdown, thinking, the prompt box; an unreachable daemon."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.app import App, ComposeResult
from textual.widgets import Collapsible
from textual.widgets._markdown import MarkdownFence

from corral.cli.main import cli
from corral.sessions import SessionStore
from corral.tui import CorralApp
from corral.tui.chat_screen import ChatScreen
from corral.tui.message_item import MessageItem
from corral.tui.prompt_input import PromptInput


class _Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.submitted: list[str] = []

    def compose(self) -> ComposeResult:
        yield MessageItem("assistant")
        yield PromptInput(id="prompt")

    def on_prompt_input_submitted(self, event: PromptInput.Submitted) -> None:
        self.submitted.append(event.text)


async def test_fence_split_across_chunks_renders_as_code() -> None:
    app = _Host()
    async with app.run_test() as pilot:
        item = app.query_one(MessageItem)
        for chunk in ["Here:\n\n``", "`py", "thon\nprint(", "1)\n`", "``\n\nDone."]:
            await item.append(chunk)
        await item.finish()
        await pilot.pause()
        assert item.markdown.source == "Here:\n\n```python\nprint(1)\n```\n\nDone."
        fences = list(item.query(MarkdownFence))
        assert len(fences) == 1
        assert "print(1)" in fences[0].code


async def test_thinking_is_hidden_until_there_is_some() -> None:
    app = _Host()
    async with app.run_test() as pilot:
        item = app.query_one(MessageItem)
        box = item.query_one("#thinking", Collapsible)
        assert not box.display
        item.append_thinking("Let me see")
        await pilot.pause()
        assert box.display and box.collapsed
        assert item.thinking == "Let me see"


async def test_prompt_enter_sends_ctrl_j_breaks_and_blank_is_not_sent() -> None:
    app = _Host()
    async with app.run_test() as pilot:
        app.query_one(PromptInput).focus()
        await pilot.press("enter", "space", "enter")
        assert app.submitted == []
        await pilot.press("backspace", "a", "ctrl+j", "b", "enter")
        await pilot.pause()
        assert app.submitted == ["a\nb"]
        assert app.query_one(PromptInput).text == ""


async def test_unreachable_daemon_is_a_notification_not_a_crash(tmp_path: Path) -> None:
    app = CorralApp("127.0.0.1:9", store=SessionStore(tmp_path / "s.db"))
    async with app.run_test(notifications=True) as pilot:
        for _ in range(200):
            if app._notifications:
                break
            await pilot.pause(0.02)
        assert isinstance(app.screen, ChatScreen)
        assert any("127.0.0.1:9" in n.message for n in app._notifications)
        await pilot.press("f2")
        await pilot.press("f3")
        await pilot.pause(0.2)
        assert app.is_running


def test_bad_host_exits_1_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["tui", "--host", "ftp://box:1"])
    assert result.exit_code == 1
    assert "ftp://box:1" in result.output


@pytest.mark.parametrize(
    ("name", "applied", "warned"), [("nord", "nord", False), ("nope", "textual-dark", True)]
)
async def test_theme_from_config_is_applied_or_reported(
    tmp_path: Path, name: str, applied: str, warned: bool
) -> None:
    app = CorralApp("127.0.0.1:9", store=SessionStore(tmp_path / "s.db"), theme=name)
    async with app.run_test(notifications=True) as pilot:
        await pilot.pause()
        assert app.theme == applied
        assert any("unknown theme 'nope'" in n.message for n in app._notifications) is warned
