"""The TUI chat screen under Pilot, against a real daemon and SmolLM2."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.sessions import SessionStore, StoredMessage
from corral.tui.chat_screen import ChatScreen
from corral.tui.chat_view import ChatView
from corral.tui.message_item import MessageItem
from corral.tui.prompt_input import PromptInput
from corral.tui.sidebar import ChatSidebar
from tests.integration.conftest import CATALOG_MODEL, Daemon
from tests.integration.tui_helpers import make_app, wait_for

pytestmark = pytest.mark.integration


def _view(app: object) -> ChatView:
    screen = app.screen  # type: ignore[attr-defined]
    assert isinstance(screen, ChatScreen)
    view = screen.current
    assert view is not None
    return view


async def test_prompt_streams_an_answer_that_is_saved(daemon: Daemon, tmp_path: Path) -> None:
    app = make_app(daemon, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        view = _view(app)
        await wait_for(pilot, lambda: view.model is not None)
        view.query_one("#model").value = CATALOG_MODEL  # type: ignore[attr-defined]
        view.options = {"temperature": 0, "num_predict": 24}
        await pilot.pause()
        assert view.model == CATALOG_MODEL
        await pilot.press(*"Say hi", "ctrl+j", *"please")
        assert view.query_one(PromptInput).text == "Say hi\nplease"
        await pilot.press("enter")
        assert view.query_one(PromptInput).text == ""
        await wait_for(pilot, lambda: len(view.history) == 2)
        answer = view.query(MessageItem).last()
        assert answer.role == "assistant"
        assert answer.text.strip()
        assert answer.markdown.source == answer.text
        assert "out" in view.usage and "tok/s" in view.usage
        sidebar = app.screen.query_one(ChatSidebar)
        await wait_for(pilot, lambda: len(sidebar.entries) == 1)
        assert "Say hi please" in sidebar.entries[0]
    with SessionStore(tmp_path / "sessions.db") as store:
        assert view.session_id is not None
        saved = store.get(view.session_id)
        assert [m.role for m in saved.messages] == ["user", "assistant"]
        assert saved.messages[0].content == "Say hi\nplease"
        assert saved.messages[1].metrics and saved.messages[1].metrics["eval_count"] > 0


async def test_escape_cancels_the_answer_and_keeps_the_chat(daemon: Daemon, tmp_path: Path) -> None:
    app = make_app(daemon, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        view = _view(app)
        await wait_for(pilot, lambda: view.model is not None)
        view.model = CATALOG_MODEL
        view.options = {"num_predict": 2000, "temperature": 0}
        view.send("Count from 1 to 1000, one number per line.")
        await wait_for(pilot, lambda: len(view.query(MessageItem)) == 2)
        answer = view.query(MessageItem).last()
        await wait_for(pilot, lambda: bool(answer.text))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not view.busy and len(view.history) == 2)
        assert view.usage == "(canceled)"
        assert view.history[1].content == answer.text
        assert len(view.history[1].content) < 4000
        # The chat goes on after a cancel.
        view.options = {"num_predict": 8, "temperature": 0}
        view.send("Hello")
        await wait_for(pilot, lambda: len(view.history) == 4)
        assert "tok/s" in view.usage or "out" in view.usage


async def test_chats_open_in_tabs_and_switch(daemon: Daemon, tmp_path: Path) -> None:
    app = make_app(daemon, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        first = _view(app)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert screen.tabs.tab_count == 2
        second = _view(app)
        assert second is not first
        assert screen.tabs.active == "chat-2"
        await pilot.press("ctrl+pageup")
        await pilot.pause()
        assert screen.tabs.active == "chat-1"
        assert _view(app) is first
        await pilot.press("ctrl+pagedown")
        await pilot.pause()
        assert screen.tabs.active == "chat-2"
        await pilot.press("ctrl+w")
        await pilot.pause()
        assert screen.tabs.tab_count == 1
        assert _view(app) is first


async def test_sidebar_search_finds_and_reopens_a_saved_chat(
    daemon: Daemon, tmp_path: Path
) -> None:
    with SessionStore(tmp_path / "sessions.db") as store:
        sid = store.create(CATALOG_MODEL)
        from corral.sessions import StoredMessage

        store.append(
            sid,
            [StoredMessage("user", "tell me about zebras"), StoredMessage("assistant", "Stripes.")],
        )
        store.append(store.create(CATALOG_MODEL), [StoredMessage("user", "about lions")])
    app = make_app(daemon, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        sidebar = screen.query_one(ChatSidebar)
        await wait_for(pilot, lambda: len(sidebar.entries) == 2)
        await pilot.press("ctrl+f", *"zebras")
        await wait_for(pilot, lambda: len(sidebar.entries) == 1)
        assert "[zebras]" in sidebar.entries[0]
        sidebar.query_one("#sessions").focus()
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: screen.tabs.tab_count == 2)
        view = _view(app)
        assert view.session_id == sid
        assert [m.text for m in view.query(MessageItem)] == ["tell me about zebras", "Stripes."]


async def test_settings_regenerate_edit_copy_and_export(daemon: Daemon, tmp_path: Path) -> None:
    app = make_app(daemon, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        view = _view(app)
        await wait_for(pilot, lambda: view.model is not None)
        view.query_one("#model").value = CATALOG_MODEL  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: ": fits" in view.fit or ": too big" in view.fit)
        # Settings: a bad option is refused in the dialog, a good one saved.
        await pilot.press("ctrl+o")
        await pilot.pause()
        dialog = app.screen
        dialog.query_one("#system").load_text("Answer in one word.")  # type: ignore[attr-defined]
        options = dialog.query_one("#options")
        options.value = "temperature=hot"  # type: ignore[attr-defined]
        options.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert "hot" in str(dialog.query_one("#error").content)  # type: ignore[attr-defined]
        options.value = "temperature=0 num_predict=12"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        assert view.system == "Answer in one word."
        assert view.options == {"temperature": 0, "num_predict": 12}
        view.send("Write a python hello world in a code block")
        await wait_for(pilot, lambda: len(view.history) == 2)
        first = view.history[1].content
        # Regenerate replaces the answer (greedy: the same text again), in view and store.
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: len(view.history) == 2 and not view.busy)
        await pilot.pause(0.2)
        assert len(view.query(MessageItem)) == 2
        assert view.history[1].content == first
        # Edit the last prompt: the exchange goes back into the prompt box.
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert view.history == []
        assert view.query_one(PromptInput).text == "Write a python hello world in a code block"
        view.history = [
            StoredMessage("user", "code?"),
            StoredMessage("assistant", "```py\nprint(1)\n```\nand\n```\nx\n```\n"),
        ]
        await pilot.press("ctrl+g")
        assert app.clipboard == "print(1)\n"
        await pilot.press("ctrl+g")
        assert app.clipboard == "x\n"
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await screen.export(view, tmp_path / "out.md")
    text = (tmp_path / "out.md").read_text()
    assert text.startswith(f"# Chat with {CATALOG_MODEL}\n")
    assert "**System:** Answer in one word." in text and "print(1)" in text
    with SessionStore(tmp_path / "sessions.db") as store:
        assert view.session_id is not None
        saved = store.get(view.session_id)
        assert saved.messages == []
        assert saved.system == "Answer in one word."


async def test_fit_readout_names_the_context_and_follows_num_ctx(
    daemon: Daemon, tmp_path: Path
) -> None:
    app = make_app(daemon, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        view = _view(app)
        await wait_for(pilot, lambda: view.model is not None)
        view.query_one("#model").value = CATALOG_MODEL  # type: ignore[attr-defined]
        await wait_for(pilot, lambda: "num_ctx" in view.fit)
        assert view.fit.startswith("num_ctx 4096: ")  # the daemon default
        assert "fits" in view.fit or "too big" in view.fit
        await pilot.press("ctrl+o")
        await pilot.pause()
        dialog = app.screen
        options = dialog.query_one("#options")
        options.value = "num_ctx=1024"  # type: ignore[attr-defined]
        options.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: view.fit.startswith("num_ctx 1024: "))
        assert str(view.query_one("#fit").content) == view.fit  # type: ignore[attr-defined]
