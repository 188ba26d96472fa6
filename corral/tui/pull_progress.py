"""Pull progress: one labelled bar per layer, fed with `/api/pull` events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar

from corral.tui.format import human_size

__all__ = ["PullProgress"]


class _Layer(Horizontal):
    DEFAULT_CSS = """
    _Layer { height: 1; }
    _Layer Label { width: 1fr; }
    _Layer ProgressBar { width: 44; }
    """

    def __init__(self, digest: str, total: int) -> None:
        super().__init__()
        self.digest = digest
        self.total = total

    def compose(self) -> ComposeResult:
        yield Label(f"{self.digest.removeprefix('sha256:')[:12]} {human_size(self.total)}")
        yield ProgressBar(total=self.total, show_eta=False)

    @property
    def bar(self) -> ProgressBar:
        return self.query_one(ProgressBar)


class PullProgress(Vertical):
    """`status` is the last status line; `bars` maps layer digests to their bars."""

    DEFAULT_CSS = """
    PullProgress { height: auto; max-height: 8; padding: 0 1; }
    PullProgress > #status { height: 1; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status = ""
        self._layers: dict[str, _Layer] = {}

    def compose(self) -> ComposeResult:
        yield Label("", id="status")

    @property
    def bars(self) -> dict[str, ProgressBar]:
        return {digest: layer.bar for digest, layer in self._layers.items()}

    async def reset(self) -> None:
        for layer in self._layers.values():
            await layer.remove()
        self._layers.clear()
        self.set_status("")

    def set_status(self, text: str) -> None:
        self.status = text
        self.query_one("#status", Label).update(text)

    async def update_from(self, event: Mapping[str, Any]) -> None:
        """Apply one pull event: a new layer gets a bar, a known one advances."""
        digest, total = event.get("digest"), event.get("total")
        if isinstance(digest, str) and isinstance(total, int) and total > 0:
            layer = self._layers.get(digest)
            if layer is None:
                layer = _Layer(digest, total)
                self._layers[digest] = layer
                await self.mount(layer)
            layer.bar.update(total=total, progress=int(event.get("completed") or 0))

    def complete(self) -> None:
        """The pull succeeded: every bar is full."""
        for layer in self._layers.values():
            layer.bar.update(progress=layer.total)
