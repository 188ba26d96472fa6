"""The prompt box: a multi-line TextArea where Enter sends and Ctrl+J (or Shift+Enter) breaks."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import TextArea

__all__ = ["PromptInput"]


class PromptInput(TextArea):
    """Enter posts `Submitted` with the text and clears the box; Ctrl+J inserts a newline."""

    DEFAULT_CSS = """
    PromptInput { height: auto; min-height: 3; max-height: 8; }
    """

    @dataclass
    class Submitted(Message):
        prompt: PromptInput
        text: str

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.prevent_default()
            event.stop()
            text = self.text
            if text.strip():
                self.clear()
                self.post_message(self.Submitted(self, text))
            return
        if event.key in {"ctrl+j", "shift+enter", "newline"}:
            event.prevent_default()
            event.stop()
            self.insert("\n")
            return
        await super()._on_key(event)
