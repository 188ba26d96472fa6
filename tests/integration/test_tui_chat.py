"""The TUI chat screen under Pilot, against a real daemon and SmolLM2."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.sessions import SessionStore
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
