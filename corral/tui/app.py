"""`CorralApp`: the screens as modes, global bindings, command palette entries and keymap."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from corral.client import AsyncClient
from corral.errors import CorralError
from corral.sessions import SessionStore
from corral.tui.chat_screen import ChatScreen
from corral.tui.chat_view import ChatView
from corral.tui.config import save_keymap
from corral.tui.editor_screen import EditorScreen
from corral.tui.models_screen import ModelsScreen
from corral.tui.services import Services
from corral.tui.sidebar import ChatSidebar
from corral.tui.system_screen import SystemScreen

__all__ = ["CorralApp"]


class CorralApp(App[None]):
    """The corral TUI.

    Args:
        host: the daemon (`host:port` or URL; default CORRAL_HOST).
        store: the session store (default `<CORRAL_HOME>/sessions.db`).
        keymap: binding id → keys, from `[tui.keys]` of the config file.
        client: the daemon connection (default: one to `host`).
        poll: seconds between refreshes of the system panel.
        clock: the clock of keep-alive countdowns (default: now, UTC).
        theme: a Textual theme name (default textual-dark); an unknown one is reported.
    """

    TITLE = "corral"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[None]]]] = {
        "chat": ChatScreen,
        "models": ModelsScreen,
        "system": SystemScreen,
        "editor": EditorScreen,
    }
    DEFAULT_MODE = "chat"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "switch_mode('chat')", "Chat", id="chat"),
        Binding("f2", "switch_mode('models')", "Models", id="models"),
        Binding("f3", "switch_mode('system')", "System", id="system"),
        Binding("f4", "switch_mode('editor')", "Editor", id="editor"),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    def __init__(
        self,
        host: str | None = None,
        *,
        store: SessionStore | None = None,
        keymap: Mapping[str, str] | None = None,
        client: AsyncClient | None = None,
        poll: float = 2.0,
        clock: Callable[[], datetime] | None = None,
        theme: str | None = None,
    ) -> None:
        super().__init__()
        self._theme_name = theme
        self.services = Services(client or AsyncClient(host), store or SessionStore(), poll)
        if clock is not None:
            self.services.now = clock
        self._keymap = dict(keymap or {})

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        if self._theme_name and self._theme_name != self.theme:
            if self._theme_name in self.available_themes:
                self.theme = self._theme_name
            else:
                self.notify(
                    f"unknown theme {self._theme_name!r}; using textual-dark", severity="warning"
                )
        if self._keymap:
            self.set_keymap(self._keymap)
        self.sub_title = self.services.client.base_url

    async def on_unmount(self) -> None:
        await self.services.client.aclose()

    @classmethod
    def binding_ids(cls) -> dict[str, str]:
        """Every remappable binding id with its default keys (app and screens)."""
        ids: dict[str, str] = {}
        owners: list[type[object]] = [cls, ChatScreen, ModelsScreen, SystemScreen]
        owners += [EditorScreen, ChatView, ChatSidebar]
        for owner in owners:
            for binding in getattr(owner, "BINDINGS", []):
                if isinstance(binding, Binding) and binding.id:
                    ids[binding.id] = binding.key
        return ids

    def action_save_keys(self) -> None:
        """Write every binding (current keys) and the theme to the `[tui]` config table."""
        keys = {**self.binding_ids(), **self._keymap}
        try:
            path = save_keymap(keys, theme_name=self.theme)
        except CorralError as exc:
            self.notify(exc.message, severity="error")
            return
        self.notify(f"key bindings written to {path}", title="config")

    def _models(self) -> None:
        self.switch_mode("models")

    def _system(self) -> None:
        self.switch_mode("system")

    def _editor(self) -> None:
        self.switch_mode("editor")

    async def action_edit_model(self, name: str) -> None:
        """Open `name`'s Modelfile in the editor."""
        await self.switch_mode("editor")
        screen = self.screen
        if isinstance(screen, EditorScreen):
            screen.open_model(name)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Save key bindings", "Write all key bindings to the config file", self.action_save_keys
        )
        yield SystemCommand("Chat", "Open the chat screen", lambda: self.switch_mode("chat"))
        yield SystemCommand("Models", "Local models: pull, push, delete, details", self._models)
        yield SystemCommand("System", "GPUs, memory and loaded models", self._system)
        yield SystemCommand(
            "Modelfile editor", "Write a Modelfile and create a model", self._editor
        )
        if isinstance(screen, ChatScreen):
            yield SystemCommand("New chat", "Open a new chat tab", screen.action_new_chat)
            yield SystemCommand(
                "Close chat", "Close the current chat tab", screen.action_close_chat
            )
            yield SystemCommand(
                "Search chats", "Full-text search over saved chats", screen.action_search
            )
            yield SystemCommand("Export chat", "Save the chat as Markdown", screen.action_export)
            view = screen.current
            if view is not None:
                yield SystemCommand(
                    "Regenerate", "Answer the last prompt again", view.action_regenerate
                )
                yield SystemCommand(
                    "Edit last prompt", "Take back the last exchange", view.action_edit_last
                )
                yield SystemCommand(
                    "Chat settings", "System prompt and options", view.action_settings
                )
                yield SystemCommand(
                    "Copy code block", "Copy the last answer's code", view.action_copy_code
                )
        if isinstance(screen, ModelsScreen):
            yield SystemCommand("Pull a model", "Download a model", screen.action_pull)
            yield SystemCommand(
                "Push model", "Upload the selected model to its registry", screen.action_push
            )
            yield SystemCommand("Delete model", "Delete the selected model", screen.action_delete)
            yield SystemCommand("Refresh models", "Reload the model list", screen.action_refresh)
            yield SystemCommand(
                "Cancel transfer", "Stop the running pull or push", screen.action_cancel_pull
            )
            yield SystemCommand("Copy model", "Copy the selected model", screen.action_copy)
        if isinstance(screen, SystemScreen):
            yield SystemCommand("Unload model", "Unload the selected model", screen.action_unload)
        if isinstance(screen, EditorScreen):
            yield SystemCommand(
                "Create model", "Create the model from this Modelfile", screen.action_create
            )
            yield SystemCommand("Diff Modelfile", "Changes against the model", screen.action_diff)
            yield SystemCommand(
                "Open Modelfile", "Load a Modelfile from a file", screen.action_open_file
            )
