"""One chat (a tab): model picker, messages, prompt box and the answer's usage line.

The answer streams in a worker; Esc cancels that worker, which closes the HTTP
stream (the daemon sees the client go away) and keeps the chat and the partial
answer. Every exchange is saved to the session store in a thread.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Label, Select
from textual.worker import Worker, WorkerState

from corral.errors import CorralError
from corral.sessions import Session, StoredMessage
from corral.tui.chat_settings import ChatSettings
from corral.tui.clipboard import copy_text
from corral.tui.format import answer_usage
from corral.tui.message_item import MessageItem
from corral.tui.prompt_input import PromptInput
from corral.tui.services import deferred, services
from corral.tui.transcript import code_blocks, fit_text, to_markdown

__all__ = ["ChatView"]


class ChatView(Vertical):
    """A conversation with one model, stored as one session."""

    DEFAULT_CSS = """
    ChatView { height: 1fr; }
    ChatView #bar { height: 3; }
    ChatView #model { width: 3fr; }
    ChatView #fit {
        width: 2fr; height: 3; padding: 0 1; color: $text-muted; content-align: left middle;
    }
    ChatView #usage { height: 1; color: $text-muted; padding: 0 1; }
    ChatView #messages { height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel answer", id="cancel"),
        Binding("ctrl+r", "regenerate", "Regenerate", id="regenerate"),
        Binding("ctrl+l", "edit_last", "Edit last prompt", id="edit_last", show=False),
        Binding("ctrl+o", "settings", "Chat settings", id="chat_settings"),
        Binding("ctrl+g", "copy_code", "Copy code", id="copy_code", show=False),
    ]

    class Answered(Message):
        """An answer finished (or was canceled); the sidebar refreshes on it."""

    def __init__(self, *, session: Session | None = None, model: str | None = None) -> None:
        super().__init__()
        self.session_id: int | None = session.id if session else None
        self.history: list[StoredMessage] = list(session.messages) if session else []
        self.system: str | None = session.system if session else None
        self.options: dict[str, Any] = dict(session.options) if session else {}
        self.model: str | None = session.model if session else model
        self.usage = ""
        self._answer: Worker[None] | None = None
        self._code_index = 0
        self.fit = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="bar"):
            yield Select[str]([], prompt="pick a model", id="model", allow_blank=True)
            yield Label("", id="fit")
        with VerticalScroll(id="messages"):
            for message in self.history:
                yield MessageItem(message.role, message.content, thinking=message.thinking)
        yield Label("", id="usage")
        yield PromptInput(id="prompt")

    def on_mount(self) -> None:
        self.run_worker(deferred(self._load_models), group="models", exit_on_error=False)
        self.query_one(PromptInput).focus()

    async def _load_models(self) -> None:
        try:
            names = await services(self).model_names()
        except CorralError as exc:
            self.notify(exc.message, severity="error", title="models")
            return
        select = self.query_one("#model", Select)
        if self.model and self.model not in names:
            names = [self.model, *names]
        select.set_options([(name, name) for name in names])
        if self.model is None and names:
            self.model = names[0]
        if self.model:
            select.value = self.model

    @on(Select.Changed, "#model")
    def _model_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.model = event.value
            self.refresh_fit()

    async def _fit(self, model: str) -> None:
        """Say whether `model` fits the daemon machine before it is loaded."""
        client = services(self).client
        num_ctx = self.options.get("num_ctx")
        num_ctx = num_ctx if isinstance(num_ctx, int) and num_ctx > 0 else None
        try:
            listing = await client.list()
            system = await client.system(model, num_ctx=num_ctx)
        except CorralError:
            return  # an older or remote daemon without /api/system: say nothing
        sizes = {m.get("name"): m.get("size") for m in listing.get("models") or []}
        size = sizes.get(model)
        if isinstance(size, int):
            self.fit = fit_text(size, system, num_ctx)
            self.query_one("#fit", Label).update(self.fit)

    def refresh_fit(self) -> None:
        """Recompute the fit readout (the model or the chat's num_ctx changed)."""
        if self.model:
            self.run_worker(
                deferred(self._fit, self.model), group="fit", exclusive=True, exit_on_error=False
            )

    @property
    def busy(self) -> bool:
        return self._answer is not None and self._answer.state in {
            WorkerState.PENDING,
            WorkerState.RUNNING,
        }

    @on(PromptInput.Submitted)
    def _submitted(self, event: PromptInput.Submitted) -> None:
        event.stop()
        self.send(event.text)

    def send(self, text: str) -> None:
        """Ask the current model; refused (with a notification) while an answer streams."""
        if self.busy:
            self.notify("an answer is still streaming; Esc cancels it", severity="warning")
            return
        if not self.model:
            self.notify("pick a model first", severity="error")
            return
        self._answer = self.run_worker(
            deferred(self._ask, self.model, text),
            group="answer",
            exclusive=True,
            exit_on_error=False,
        )

    def action_cancel(self) -> None:
        if self.busy and self._answer is not None:
            self._answer.cancel()

    def _take_last_exchange(self) -> StoredMessage | None:
        """Remove the last prompt and its answer (view, memory, store); returns the prompt."""
        if self.busy:
            self.notify("an answer is still streaming; Esc cancels it", severity="warning")
            return None
        if len(self.history) < 2 or self.history[-2].role != "user":
            self.notify("there is no answer to redo yet", severity="warning")
            return None
        prompt = self.history[-2]
        self.history = self.history[:-2]
        items = list(self.query(MessageItem))
        for item in items[-2:]:
            item.remove()
        if self.session_id is not None:
            sid = self.session_id
            self.run_worker(
                asyncio.to_thread(services(self).store.drop_last, sid, 2), exit_on_error=False
            )
        return prompt

    def action_regenerate(self) -> None:
        prompt = self._take_last_exchange()
        if prompt is not None:
            self.send(prompt.content)

    def action_edit_last(self) -> None:
        prompt = self._take_last_exchange()
        if prompt is not None:
            box = self.query_one(PromptInput)
            box.load_text(prompt.content)
            box.focus()

    def action_settings(self) -> None:
        def saved(result: tuple[str | None, dict[str, Any]] | None) -> None:
            if result is None:
                return
            self.system, self.options = result
            self.refresh_fit()
            if self.session_id is not None and self.model:
                store, sid, model = services(self).store, self.session_id, self.model
                self.run_worker(
                    asyncio.to_thread(
                        store.update, sid, model=model, system=self.system, options=self.options
                    ),
                    exit_on_error=False,
                )
            self.notify("chat settings saved", timeout=2)

        self.app.push_screen(ChatSettings(self.system, self.options), saved)

    def action_copy_code(self) -> None:
        """Copy the next code block of the last answer (OSC 52), cycling through them."""
        answers = [m for m in self.history if m.role == "assistant"]
        blocks = code_blocks(answers[-1].content) if answers else []
        if not blocks:
            self.notify("the last answer has no code block", severity="warning")
            return
        index = self._code_index % len(blocks)
        self._code_index = index + 1
        copy_text(self.app, blocks[index])
        self.notify(f"copied code block {index + 1} of {len(blocks)}", timeout=2)

    def markdown(self) -> str:
        return to_markdown(self.model or "?", self.system, self.history)

    async def _ask(self, model: str, text: str) -> None:
        messages = self.query_one("#messages", VerticalScroll)
        await messages.mount(MessageItem("user", text))
        answer = MessageItem("assistant")
        await messages.mount(answer)
        messages.scroll_end(animate=False)
        user = StoredMessage("user", text)
        wire = [m.to_chat() for m in [*self.history, user]]
        if self.system:
            wire.insert(0, {"role": "system", "content": self.system})
        final: dict[str, Any] = {}
        note: str | None = None
        try:
            async for chunk in services(self).client.chat(model, wire, options=self.options):
                message = chunk.get("message") or {}
                if message.get("thinking"):
                    answer.append_thinking(str(message["thinking"]))
                await answer.append(str(message.get("content") or ""))
                messages.scroll_end(animate=False)
                if chunk.get("done"):
                    final = dict(chunk)
        except asyncio.CancelledError:
            note = "(canceled)"
            await self._finish(model, user, answer, final, note)
            raise
        except CorralError as exc:
            note = f"error: {exc.message}"
            self.notify(exc.message, severity="error", title=model)
        await self._finish(model, user, answer, final, note)

    async def _finish(
        self,
        model: str,
        user: StoredMessage,
        answer: MessageItem,
        final: dict[str, Any],
        note: str | None,
    ) -> None:
        await answer.finish(note)
        self.usage = answer_usage(final) if final else (note or "")
        self.query_one("#usage", Label).update(self.usage)
        reply = StoredMessage(
            "assistant",
            answer.text,
            answer.thinking or None,
            metrics={k: v for k, v in final.items() if k.endswith(("_count", "_duration"))} or None,
        )
        self.history += [user, reply]
        try:
            await asyncio.shield(self._save(model, [user, reply]))
        except CorralError as exc:
            self.notify(exc.message, severity="error", title="sessions")
        self.post_message(self.Answered())

    async def _save(self, model: str, new: list[StoredMessage]) -> None:
        store = services(self).store
        if self.session_id is None:
            self.session_id = await asyncio.to_thread(
                store.create, model, system=self.system, options=self.options
            )
        else:
            await asyncio.to_thread(
                store.update,
                self.session_id,
                model=model,
                system=self.system,
                options=self.options,
            )
        await asyncio.to_thread(store.append, self.session_id, new)
