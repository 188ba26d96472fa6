"""The full-screen Textual app (`corral tui`): chat, models, system panel, Modelfile editor.

It reaches the daemon only through `corral.client.AsyncClient`, so it works against
a remote daemon too, and keeps chats in the same SQLite store as the REPL
(`corral.sessions`). Each screen and widget lives in its own module.
"""

from __future__ import annotations

from corral.tui.app import CorralApp

__all__ = ["CorralApp"]
