"""What one chat holds between prompts: model, messages, system message and the `/set` switches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChatState"]


@dataclass(slots=True)
class ChatState:
    """The conversation and settings the REPL sends with every `/api/chat` request."""

    model: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    """User and assistant messages so far (the system message is kept apart)."""
    system: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    """Options set with `/set parameter` or `-o` (sent as the request's `options`)."""
    format: str | dict[str, Any] | None = None
    think: bool | str | None = None
    keep_alive: str | float | None = None
    wordwrap: bool = True
    verbose: bool = False
    hide_thinking: bool = False
    history: bool = True
    session_id: int | None = None
    """The saved session this chat is written to; None until its first answer."""

    def request_messages(self) -> list[dict[str, Any]]:
        """The messages to send: the system message first, then the conversation."""
        head = [{"role": "system", "content": self.system}] if self.system else []
        return head + self.messages

    def clear(self) -> None:
        """Forget the conversation (the system message stays); the next answer starts a session."""
        self.messages = []
        self.session_id = None
