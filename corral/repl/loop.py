"""The chat loop: read a prompt, stream the answer, save the exchange, until /bye or Ctrl+D.

A generation runs as its own task. While it runs, the terminal is put in raw
mode and its keys are read: Ctrl+C cancels that task only (the session goes on),
and any other key typed meanwhile is kept as typeahead for the next prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.input import Input, create_input
from prompt_toolkit.input.typeahead import store_typeahead
from prompt_toolkit.keys import Keys
from prompt_toolkit.output import Output

from corral import envconfig
from corral.client import AsyncClient
from corral.display import format_metrics
from corral.errors import CorralError
from corral.repl.commands import Outcome, handle_command
from corral.repl.images import extract_images
from corral.repl.prompt import PLACEHOLDER, build_session
from corral.repl.render import AnswerView
from corral.repl.state import ChatState
from corral.sessions import SessionStore, StoredMessage

__all__ = ["Repl"]


class Repl:
    """One interactive chat on `client` with the model in `state`.

    Args:
        client: the daemon connection.
        state: the model, settings and (when resuming) the conversation so far.
        input: prompt-toolkit input (default: the terminal); tests pass a pipe input.
        output: prompt-toolkit output for the prompt line (default: the terminal).
        out: where answers and command output go (default: stdout).
        tty: whether `out` is a terminal (Markdown, colour); default: ask `out`.
        store: the saved-sessions database (None: conversations are not saved).
        history_path: prompt history file (default `<CORRAL_HOME>/history`).
    """

    def __init__(
        self,
        client: AsyncClient,
        state: ChatState,
        *,
        input: Input | None = None,
        output: Output | None = None,
        out: TextIO | None = None,
        tty: bool | None = None,
        store: SessionStore | None = None,
        history_path: Path | None = None,
    ) -> None:
        self.client = client
        self.state = state
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self.store = store
        self.info: dict[str, Any] = {}
        """`/api/show` of the current model."""
        self.model_names: list[str] = []
        self._input = input or create_input()
        self._interrupted = False
        self.session: PromptSession[str] = build_session(
            self,
            input=self._input,
            output=output,
            history_path=history_path or envconfig.home() / "history",
        )

    # -- output -------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        """One line (or block) of command output."""
        self.out.write(text if text.endswith("\n") else text + "\n")
        self.out.flush()

    @property
    def vision(self) -> bool:
        capabilities = self.info.get("capabilities")
        return isinstance(capabilities, list) and "vision" in capabilities

    # -- model --------------------------------------------------------------------

    async def load(self, model: str) -> None:
        """Show and load `model`, making it the chat's model."""
        info = await self.client.show(model)
        async for _ in self.client.generate(model, keep_alive=self.state.keep_alive):
            pass
        self.info = info
        self.state.model = model

    async def refresh_models(self) -> None:
        """Model names for Tab completion."""
        try:
            answer = await self.client.list()
        except CorralError:
            return
        models = answer.get("models")
        entries = models if isinstance(models, list) else []
        names = (m.get("name") for m in entries if isinstance(m, dict))
        self.model_names = sorted(n for n in names if isinstance(n, str))

    def print_history(self) -> None:
        """The conversation so far (a resumed session), as it looked when typed."""
        for message in self.state.messages:
            if message.get("role") == "user":
                self.say(">>> " + str(message.get("content", "")))
            elif message.get("role") == "assistant":
                self.say(str(message.get("content", "")) + "\n")

    # -- the loop -----------------------------------------------------------------

    async def run(self) -> None:
        """Chat until /bye, /exit or Ctrl+D."""
        await self.load(self.state.model)
        await self.refresh_models()
        self.print_history()
        while True:
            try:
                text = await self.read()
            except KeyboardInterrupt:
                self.say("Use Ctrl + d or /bye to exit.")
                continue
            except EOFError:
                self.say()
                return
            stripped = text.strip()
            if not stripped:
                continue
            if stripped.startswith("/") and "/" not in stripped.split()[0][1:]:
                if await handle_command(self, stripped) is Outcome.EXIT:
                    return
                continue
            await self.answer(text)

    async def read(self) -> str:
        """One prompt; a `\"\"\"` block (also after `/set system`) reads lines until `\"\"\"`."""
        line = await self.session.prompt_async(">>> ", placeholder=PLACEHOLDER)
        for opener in ('"""', '/set system """'):
            if line.startswith(opener):
                break
        else:
            return line
        head, rest = line[: len(opener) - 3], line[len(opener) :]
        if rest.endswith('"""') and rest.strip() != "":
            return head + rest[:-3]
        lines = [rest] if rest else []
        while True:
            more = await self.session.prompt_async("... ", placeholder="")
            if more.endswith('"""'):
                if more[:-3]:
                    lines.append(more[:-3])
                return head + "\n".join(lines)
            lines.append(more)

    async def answer(self, text: str) -> None:
        """Send `text` as the next user message and stream the answer."""
        message: dict[str, Any] = {"role": "user", "content": text}
        if self.vision:
            try:
                text, images = extract_images(text)
            except ValueError as exc:
                self.say(f"Error: {exc}")
                return
            for image in images:
                self.say(f"Added image '{image.path}'")
            message["content"] = text
            if images:
                message["images"] = [image.data for image in images]
        self.state.messages.append(message)
        width = shutil.get_terminal_size((80, 24)).columns
        view = AnswerView(
            self.out,
            tty=self.tty,
            width=width,
            markdown=self.state.wordwrap,
            hide_thinking=self.state.hide_thinking,
        )
        self._interrupted = False
        task = asyncio.create_task(self._stream(view))
        try:
            with self._interrupts(task):
                final = await task
        except asyncio.CancelledError:
            if not self._interrupted:
                raise
            view.finish()
            self.state.messages.pop()
            return
        except CorralError as exc:
            view.finish()
            self.state.messages.pop()
            self.say(f"Error: {exc.message}")
            return
        view.finish()
        reply = {"role": "assistant", "content": view.text}
        self.state.messages.append(reply)
        await self._save(message, view, final)
        if self.state.verbose and final is not None:
            self.say(format_metrics(final))

    async def _stream(self, view: AnswerView) -> dict[str, Any] | None:
        state = self.state
        final: dict[str, Any] | None = None
        chunks = self.client.chat(
            state.model,
            state.request_messages(),
            options=state.options or None,
            keep_alive=state.keep_alive,
            format=state.format,
            think=state.think,
        )
        try:
            async for chunk in chunks:
                piece = chunk.get("message")
                if isinstance(piece, dict):
                    thinking, content = piece.get("thinking"), piece.get("content")
                    view.thinking(thinking if isinstance(thinking, str) else "")
                    view.content(content if isinstance(content, str) else "")
                if chunk.get("done"):
                    final = chunk
        finally:
            # Close the HTTP response now (not at garbage collection) when interrupted.
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        return final

    @contextlib.contextmanager
    def _interrupts(self, task: asyncio.Task[Any]) -> Iterator[None]:
        """While `task` runs, Ctrl+C cancels it; other keys wait for the next prompt.

        The terminal is in raw mode, so Ctrl+C arrives as a key; a SIGINT (sent
        before raw mode took hold, or by `kill -INT`) does the same.
        """
        source = self._input
        loop = asyncio.get_running_loop()

        def interrupt() -> None:
            if not self._interrupted:
                self._interrupted = True
                task.cancel()

        def on_keys() -> None:
            kept = []
            for press in source.read_keys():
                if press.key == Keys.ControlC:
                    interrupt()
                else:
                    kept.append(press)
            if kept:
                store_typeahead(source, kept)

        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(interrupt))
        try:
            with source.raw_mode(), source.attach(on_keys):
                yield
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    async def _save(
        self, message: dict[str, Any], view: AnswerView, final: dict[str, Any] | None
    ) -> None:
        if self.store is None:
            return
        store, state = self.store, self.state
        metrics = (
            {k: v for k, v in final.items() if k.endswith(("_duration", "_count"))}
            if final
            else None
        )
        if state.session_id is None:
            state.session_id = await asyncio.to_thread(
                store.create, state.model, system=state.system, options=state.options
            )
        else:
            await asyncio.to_thread(
                store.update,
                state.session_id,
                model=state.model,
                system=state.system,
                options=state.options,
            )
        await asyncio.to_thread(
            store.append,
            state.session_id,
            [
                StoredMessage("user", message["content"], images=message.get("images")),
                StoredMessage(
                    "assistant", view.text, thinking=view.thoughts or None, metrics=metrics
                ),
            ],
        )
