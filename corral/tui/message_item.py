"""One chat message: a role label, optional collapsible thinking and incremental Markdown."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, Label, Markdown, Static
from textual.widgets.markdown import MarkdownStream

from corral.tui.clipboard import copy_text

__all__ = ["MessageItem"]


class MessageItem(Vertical):
    """A message; an assistant answer grows through `append`, which feeds a MarkdownStream.

    The stream batches fragments and appends to the rendered document instead of
    re-rendering it on every token; `finish` forces one full render at the end.
    Clicking a message copies its text (OSC 52).
    """

    DEFAULT_CSS = """
    MessageItem { height: auto; margin: 0 0 1 0; }
    MessageItem .role { color: $text-muted; text-style: bold; }
    MessageItem.user .role { color: $accent; }
    MessageItem Markdown { margin: 0; padding: 0 1; }
    MessageItem .note { color: $warning; padding: 0 1; }
    """

    def __init__(self, role: str, text: str = "", *, thinking: str | None = None) -> None:
        super().__init__(classes=role)
        self.role = role
        self.text = text
        self.thinking = thinking or ""
        self._stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        yield Label("you" if self.role == "user" else self.role, classes="role")
        with Collapsible(title="thinking", collapsed=True, id="thinking") as box:
            box.display = bool(self.thinking)
            yield Static(self.thinking, id="thoughts", markup=False)
        yield Markdown(self.text, id="body")

    @property
    def markdown(self) -> Markdown:
        return self.query_one("#body", Markdown)

    async def append(self, fragment: str) -> None:
        """Add streamed answer text."""
        if not fragment:
            return
        self.text += fragment
        if self._stream is None:
            self._stream = Markdown.get_stream(self.markdown)
        await self._stream.write(fragment)

    def append_thinking(self, fragment: str) -> None:
        self.thinking += fragment
        self.query_one("#thinking", Collapsible).display = True
        self.query_one("#thoughts", Static).update(self.thinking)

    async def finish(self, note: str | None = None) -> None:
        """End the stream and render the whole text once; `note` is shown under it."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        await self.markdown.update(self.text)
        if note:
            await self.mount(Label(note, classes="note"))

    def on_click(self, event: events.Click) -> None:
        copy_text(self.app, self.text)
        self.notify("message copied", timeout=2)
