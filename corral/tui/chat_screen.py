"""The chat screen: the sidebar of saved chats and the open chats as tabs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane

from corral.errors import CorralError
from corral.sessions import Session
from corral.tui.chat_view import ChatView
from corral.tui.dialogs import NameDialog
from corral.tui.services import deferred, services
from corral.tui.sidebar import ChatSidebar

__all__ = ["ChatScreen"]


class ChatScreen(Screen[None]):
    """Chats in tabs; Ctrl+N opens one, Ctrl+W closes it, Ctrl+PgUp/PgDn switch."""

    DEFAULT_CSS = """
    ChatScreen #chats { width: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "new_chat", "New chat", id="new_chat"),
        Binding("ctrl+w", "close_chat", "Close chat", id="close_chat", priority=True),
        Binding(
            "ctrl+pagedown", "next_chat", "Next chat", id="next_chat", show=False, priority=True
        ),
        Binding(
            "ctrl+pageup",
            "previous_chat",
            "Previous chat",
            id="previous_chat",
            show=False,
            priority=True,
        ),
        Binding("ctrl+f", "search", "Search chats", id="search_chats"),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", id="toggle_sidebar", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._count = 0

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield ChatSidebar(id="sidebar")
            yield TabbedContent(id="chats")
        yield Footer()

    async def on_mount(self) -> None:
        await self.open_chat()
        if self.size.width < 100:
            self.query_one(ChatSidebar).display = False

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one("#chats", TabbedContent)

    @property
    def current(self) -> ChatView | None:
        pane = self.tabs.active_pane
        return None if pane is None else pane.query_one(ChatView)

    async def open_chat(self, session: Session | None = None) -> ChatView:
        """A new tab, empty or holding a saved session."""
        self._count += 1
        model = self.current.model if self.current else None
        view = ChatView(session=session, model=model)
        title = f"#{session.id}" if session else f"chat {self._count}"
        pane = TabPane(title, view, id=f"chat-{self._count}")
        await self.tabs.add_pane(pane)
        self.tabs.active = pane.id or ""
        return view

    async def action_new_chat(self) -> None:
        await self.open_chat()

    async def action_close_chat(self) -> None:
        pane = self.tabs.active_pane
        if pane is None:
            return
        view = pane.query_one(ChatView)
        view.action_cancel()
        await self.tabs.remove_pane(pane.id or "")
        if self.tabs.tab_count == 0:
            await self.open_chat()

    def _step(self, delta: int) -> None:
        panes = [pane.id for pane in self.tabs.query(TabPane)]
        if not panes:
            return
        index = panes.index(self.tabs.active) if self.tabs.active in panes else 0
        self._activate(panes[(index + delta) % len(panes)] or "")

    def _activate(self, pane_id: str) -> None:
        """Show a tab and focus its prompt (focus left in a hidden tab would pull it back)."""
        self.tabs.active = pane_id
        self.tabs.get_pane(pane_id).query_one("#prompt").focus()

    def action_next_chat(self) -> None:
        self._step(1)

    def action_previous_chat(self) -> None:
        self._step(-1)

    def action_export(self) -> None:
        """Ask for a path, then write the current chat there as Markdown."""
        view = self.current
        if view is None or not view.history:
            self.notify("nothing to export yet", severity="warning")
            return
        default = f"chat-{view.session_id or self._count}.md"

        def chosen(path: str | None) -> None:
            if path:
                self.run_worker(
                    deferred(self.export, view, Path(path).expanduser()), exit_on_error=False
                )

        self.app.push_screen(NameDialog("Export the chat to", default, value=default), chosen)

    async def export(self, view: ChatView, path: Path) -> None:
        try:
            await asyncio.to_thread(path.write_text, view.markdown())
        except OSError as exc:
            self.notify(f"cannot write {path}: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"chat exported to {path}", title="export")

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one(ChatSidebar)
        sidebar.display = not sidebar.display

    def action_search(self) -> None:
        sidebar = self.query_one(ChatSidebar)
        sidebar.display = True
        sidebar.query_one("#search").focus()

    @on(ChatView.Answered)
    def _answered(self) -> None:
        self.query_one(ChatSidebar).refresh_list()

    @on(ChatSidebar.Opened)
    async def _open_saved(self, event: ChatSidebar.Opened) -> None:
        for pane in self.tabs.query(TabPane):
            if pane.query_one(ChatView).session_id == event.session_id:
                self._activate(pane.id or "")
                return
        try:
            session = await asyncio.to_thread(services(self).store.get, event.session_id)
        except CorralError as exc:
            self.notify(exc.message, severity="error")
            return
        await self.open_chat(session)
