"""The prompt-toolkit chat REPL behind `corral run MODEL` on a terminal."""

from __future__ import annotations

from corral.repl.loop import Repl
from corral.repl.state import ChatState

__all__ = ["ChatState", "Repl"]
