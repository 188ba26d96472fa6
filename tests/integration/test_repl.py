"""The REPL driven through prompt-toolkit's pipe input, against a real daemon and SmolLM2."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.input.base import PipeInput
from prompt_toolkit.output import DummyOutput

from corral.cli._chat import resume_session
from corral.client import AsyncClient
from corral.repl import ChatState, Repl
from corral.sessions import SessionStore
from tests.integration.conftest import CATALOG_MODEL, Daemon

pytestmark = pytest.mark.integration


class CountingRepl(Repl):
    """A Repl that counts finished answers, so a test knows when to look."""

    answered = 0

    async def answer(self, text: str) -> None:
        await super().answer(text)
        self.answered += 1


class Harness:
    def __init__(self, repl: CountingRepl, pipe: PipeInput, out: io.StringIO) -> None:
        self.repl, self.pipe, self.out = repl, pipe, out
        self.task: asyncio.Task[None] | None = None

    @property
    def text(self) -> str:
        return self.out.getvalue()

    def start(self) -> None:
        self.task = asyncio.create_task(self.repl.run())

    def send(self, text: str) -> None:
        self.pipe.send_text(text)

    async def until(self, check: Callable[[], bool], what: str) -> None:
        async with asyncio.timeout(120):
            while not check():
                assert self.task is not None
                if self.task.done():
                    self.task.result()
                    raise AssertionError(f"REPL ended before {what}; output:\n{self.text}")
                await asyncio.sleep(0.02)

    async def see(self, needle: str, *, after: int = 0) -> None:
        await self.until(lambda: needle in self.text[after:], repr(needle))

    async def ask(self, prompt: str) -> str:
        """Send a prompt, wait for its answer, return what was printed for it."""
        start, count = len(self.text), self.repl.answered
        self.send(prompt + "\r")
        await self.until(lambda: self.repl.answered > count, f"the answer to {prompt!r}")
        return self.text[start:]

    async def command(self, line: str, expect: str) -> str:
        start = len(self.text)
        self.send(line + "\r")
        await self.see(expect, after=start)
        return self.text[start:]

    async def bye(self) -> None:
        self.send("/bye\r")
        assert self.task is not None
        async with asyncio.timeout(30):
            await self.task


@pytest.fixture
async def client(daemon: Daemon) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(daemon.host) as connection:
        yield connection


@pytest.fixture
def store(tmp_path: Path) -> SessionStore:
    return SessionStore(tmp_path / "sessions.db")


@pytest.fixture
def make_repl(
    client: AsyncClient, store: SessionStore, tmp_path: Path
) -> AsyncIterator[Callable[..., Harness]]:
    pipes: list[Any] = []

    def make(state: ChatState | None = None, **kwargs: Any) -> Harness:
        pipe_cm = create_pipe_input()
        pipe = pipe_cm.__enter__()
        pipes.append(pipe_cm)
        out = io.StringIO()
        repl = CountingRepl(
            client,
            state or ChatState(CATALOG_MODEL, options={"temperature": 0, "num_predict": 32}),
            input=pipe,
            output=DummyOutput(),
            out=out,
            tty=False,
            store=store,
            history_path=tmp_path / "history",
            **kwargs,
        )
        harness = Harness(repl, pipe, out)
        harness.start()
        return harness

    yield make  # type: ignore[misc]
    for pipe_cm in pipes:
        pipe_cm.__exit__(None, None, None)
    store.close()


async def test_multi_turn_session_is_saved(
    make_repl: Callable[..., Harness], store: SessionStore
) -> None:
    repl = make_repl()
    first = await repl.ask("What is the capital of France? Answer in one word.")
    assert "paris" in first.lower()
    second = await repl.ask("And of Italy? One word.")
    assert second.strip()
    assert [m["role"] for m in repl.repl.state.messages] == ["user", "assistant"] * 2
    await repl.bye()

    session = store.latest(CATALOG_MODEL)
    assert session is not None
    assert [m.content for m in session.messages][::2] == [
        "What is the capital of France? Answer in one word.",
        "And of Italy? One word.",
    ]
    assert session.messages[1].metrics and session.messages[1].metrics["eval_count"] > 0
    assert session.options == {"temperature": 0, "num_predict": 32}
    assert store.search("capital France")[0].session_id == session.id
    # The prompt history file got both prompts.
    history = (Path(store.path).parent / "history").read_text()
    assert "And of Italy? One word." in history


async def test_triple_quoted_block_is_one_message(make_repl: Callable[..., Harness]) -> None:
    repl = make_repl()
    start = repl.repl.answered
    repl.send('"""Line one\r')
    repl.send("line two\r")
    repl.send('line three"""\r')
    await repl.until(lambda: repl.repl.answered > start, "the block's answer")
    assert repl.repl.state.messages[0]["content"] == "Line one\nline two\nline three"
    # A single-line block, and a bracketed paste whose newlines stay in one message.
    await repl.ask('"""Say yes."""')
    assert repl.repl.state.messages[2]["content"] == "Say yes."
    repl.send("\x1b[200~pasted one\npasted two\x1b[201~")
    await repl.ask("")
    assert repl.repl.state.messages[4]["content"] == "pasted one\npasted two"
    # Alt+Enter inserts a newline instead of sending.
    await repl.ask("alpha\x1b\rbeta")
    assert repl.repl.state.messages[6]["content"] == "alpha\nbeta"
    await repl.bye()


async def test_ctrl_c_stops_the_answer_and_keeps_the_session(
    make_repl: Callable[..., Harness],
) -> None:
    state = ChatState(CATALOG_MODEL, options={"temperature": 0, "num_predict": 2000})
    repl = make_repl(state)
    await repl.ask("Say hi.")
    before = len(repl.repl.state.messages)
    start, count = len(repl.text), repl.repl.answered
    repl.send("Write a very long story about a dragon, with many chapters.\r")
    await repl.until(lambda: len(repl.text) - start > 40, "the story to start")
    repl.send("\x03")
    await repl.until(lambda: repl.repl.answered > count, "the interrupted answer to end")
    assert len(repl.text) - start < 4000  # stopped long before 2000 tokens
    assert len(repl.repl.state.messages) == before  # the interrupted turn is dropped
    repl.repl.state.options["num_predict"] = 16
    after = await repl.ask("Say hello.")
    assert after.strip()
    assert len(repl.repl.state.messages) == before + 2
    # Ctrl+C at an empty prompt only reminds how to leave.
    await repl.command("\x03", "Use Ctrl + d or /bye to exit.")
    await repl.bye()


async def test_set_commands(make_repl: Callable[..., Harness]) -> None:
    repl = make_repl()
    state = repl.repl.state
    cases = [
        ("/set parameter temperature 0.5", "Set parameter 'temperature' to '0.5'"),
        ("/set parameter stop <a> <b>", "Set parameter 'stop' to '<a>, <b>'"),
        ("/set parameter nonsense 1", "Couldn't set parameter: \"unknown parameter"),
        ("/set parameter num_ctx lots", 'must be an integer, got "lots"'),
        ("/set system You are a pirate.", "Set system message."),
        ("/set nohistory", "Set 'nohistory' mode."),
        ("/set history", "Set 'history' mode."),
        ("/set nowordwrap", "Set 'nowordwrap' mode."),
        ("/set wordwrap", "Set 'wordwrap' mode."),
        ("/set format json", "Set format to 'json' mode."),
        ("/set format yaml", "Invalid or missing format."),
        ("/set verbose", "Set 'verbose' mode."),
        ("/set think", "Set 'think' mode."),
        ("/set think high", "Set 'think' mode to 'high'."),
        ("/set think hard", "Invalid think level 'hard'"),
        ("/set nothink", "Set 'nothink' mode."),
        ("/set bogus", "Unknown command '/set bogus'. Type /? for help"),
        ("/set", "/set parameter ..."),
    ]
    for line, expect in cases:
        await repl.command(line, expect)
    assert state.options["temperature"] == 0.5
    assert state.options["stop"] == ["<a>", "<b>"]
    assert "nonsense" not in state.options and "num_ctx" not in state.options
    assert state.system == "You are a pirate."
    assert state.format == "json" and state.think is False and state.verbose
    # JSON mode and verbose stats on a real answer; then back to plain.
    state.options = {"temperature": 0, "num_predict": 48}
    answer = await repl.ask("Give a JSON object with a key name.")
    assert answer.lstrip().startswith("{")
    assert "eval count:" in answer and "eval rate:" in answer
    await repl.command("/set noformat", "Disabled format.")
    await repl.command("/set quiet", "Set 'quiet' mode.")
    assert state.format is None and not state.verbose
    await repl.command('/set system """You are\rterse."""', "Set system message.")
    assert state.system == "You are\nterse."
    await repl.bye()


async def test_show_list_help_clear_sessions(
    make_repl: Callable[..., Harness], store: SessionStore
) -> None:
    repl = make_repl()
    await repl.command("/show info", "architecture")
    await repl.command("/show license", "No license was specified for this model.")
    await repl.command("/show modelfile", "# Modelfile generated by")
    await repl.command("/show template", "<|im_start|>")
    await repl.command("/show system", "No system message was specified")
    await repl.command("/set parameter seed 7", "Set parameter")
    shown = await repl.command("/show parameters", "User defined parameters:")
    assert "seed" in shown
    await repl.command("/show nothing", "Unknown command '/show nothing'")
    await repl.command("/list", CATALOG_MODEL)
    await repl.command("/?", "/set            Set session variables")
    await repl.command("/help shortcuts", "Ctrl + g")
    await repl.command("/? set", "/set parameter ...")
    await repl.command("/sessions", "No saved sessions.")
    await repl.command("/nonsense", "Unknown command '/nonsense'. Type /? for help")
    await repl.ask("Say hi.")
    listed = await repl.command("/sessions", "Say hi.")
    assert "ID" in listed and CATALOG_MODEL in listed
    await repl.command("/clear", "Cleared session context")
    assert repl.repl.state.messages == [] and repl.repl.state.session_id is None
    await repl.command("/load no-such-model", "Couldn't find model 'no-such-model'")
    assert repl.repl.state.model == CATALOG_MODEL
    # Tab completes a unique command prefix, then a /show word.
    buffer = repl.repl.session.default_buffer
    repl.send("/sh\t")
    await repl.until(lambda: buffer.text == "/show", "/sh to complete")
    repl.send(" lic\t")
    await repl.until(lambda: buffer.text == "/show license", "lic to complete")
    await repl.command("", "No license was specified")
    await repl.bye()


async def test_save_then_load_the_saved_model(
    make_repl: Callable[..., Harness], daemon: Daemon
) -> None:
    repl = make_repl()
    await repl.command("/set system You are a helpful robot.", "Set system message.")
    await repl.command("/set parameter temperature 0", "Set parameter")
    await repl.ask("Say hi.")
    await repl.command("/save repl-saved", "Created new model 'repl-saved'")
    try:
        await repl.command("/load repl-saved", "Loading model 'repl-saved'")
        await repl.until(lambda: repl.repl.state.model == "repl-saved", "the model switch")
        assert repl.repl.state.messages == []
        shown = await repl.command("/show system", "helpful robot")
        assert "helpful robot" in shown
        await repl.command("/show parameters", "temperature")
        assert "repl-saved:latest" in repl.repl.model_names  # completion knows it
        answer = await repl.ask("Say hello.")
        assert answer.strip()
        await repl.bye()
    finally:
        await repl.repl.client.delete("repl-saved")


async def test_resume_a_stored_session(
    make_repl: Callable[..., Harness], store: SessionStore
) -> None:
    repl = make_repl()
    await repl.ask("Remember the word banana.")
    await repl.bye()
    session = store.latest(CATALOG_MODEL)
    assert session is not None

    state = ChatState(CATALOG_MODEL)
    resume_session(store, state, session.id)
    assert state.options == {"temperature": 0, "num_predict": 32}
    resumed = make_repl(state)
    await resumed.see(">>> Remember the word banana.")
    await resumed.ask("Say yes.")
    await resumed.bye()
    again = store.get(session.id)
    assert len(again.messages) == 4  # the same session grew


async def test_ctrl_g_opens_the_editor(
    make_repl: Callable[..., Harness], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nprintf "Say ok." > "$1"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("VISUAL", str(editor))
    repl = make_repl()
    repl.send("\x07")
    buffer = repl.repl.session.default_buffer
    await repl.until(lambda: buffer.text == "Say ok.", "the editor's text")
    await repl.ask("")
    assert repl.repl.state.messages[0]["content"] == "Say ok."
    await repl.bye()
