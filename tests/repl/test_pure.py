"""REPL pieces without a daemon: Markdown blocks, rendering, image paths, completion."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from corral.repl.completion import SlashCompleter
from corral.repl.images import MAX_IMAGE_BYTES, extract_images
from corral.repl.render import AnswerView, split_blocks

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
ESCAPE = re.compile(r"\x1b")


def test_split_blocks_at_blank_lines_and_fences() -> None:
    text = "Para one\nstill one\n\n```python\nx = 1\n\ny = 2\n```\nafter fence\npartial"
    blocks, rest = split_blocks(text)
    assert blocks == ["Para one\nstill one\n\n", "```python\nx = 1\n\ny = 2\n```\n"]
    assert rest == "after fence\npartial"
    assert split_blocks("no newline yet") == ([], "no newline yet")


def test_plain_view_writes_the_bare_text() -> None:
    out = io.StringIO()
    view = AnswerView(out, tty=False)
    view.thinking("pondering")
    for piece in ["Hello", " **world**", "\n```\ncode\n```"]:
        view.content(piece)
    view.finish()
    assert out.getvalue() == (
        "Thinking...\npondering\n...done thinking.\n\nHello **world**\n```\ncode\n```\n\n"
    )
    assert view.text == "Hello **world**\n```\ncode\n```" and view.thoughts == "pondering"


def test_hidden_thinking_is_kept_but_not_shown() -> None:
    out = io.StringIO()
    view = AnswerView(out, tty=False, hide_thinking=True)
    view.thinking("secret")
    view.content("answer")
    view.finish()
    assert out.getvalue() == "answer\n\n"
    assert view.thoughts == "secret"


def test_terminal_view_renders_markdown_and_wraps_whole_words() -> None:
    out = io.StringIO()
    view = AnswerView(out, tty=True, width=30)
    text = "A **bold** claim that goes on for quite a few words.\n\n```python\nprint('hi')\n```\n"
    for i in range(0, len(text), 7):  # streamed in odd pieces: a live region redraws
        view.content(text[i : i + 7])
    view.finish()
    assert ESCAPE.search(out.getvalue())  # styled
    assert "\x1b[1mbold" in out.getvalue()  # Markdown rendered once the pieces arrive
    assert view.text == text

    whole = io.StringIO()
    view = AnswerView(whole, tty=True, width=30)
    view.content(text)  # finished blocks are printed once, no live region
    view.finish()
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", whole.getvalue())
    sentence = "A bold claim that goes on for quite a few words."
    words = set(sentence.split(" "))
    lines = [line.strip() for line in plain.splitlines() if line.strip()]
    assert " ".join(lines[:-1]) == sentence
    for line in lines[:-1]:
        assert len(line) <= 30 and set(line.split()) <= words
    assert lines[-1] == "print('hi')"
    assert re.search(r"\x1b\[[0-9;]*4[0-9]m", whole.getvalue())  # code on a coloured panel


def test_extract_images(tmp_path: Path) -> None:
    image = tmp_path / "cat pic.png"
    image.write_bytes(PNG)
    plain = tmp_path / "dog.jpg"
    plain.write_bytes(b"\xff\xd8\xff\xe0rest")
    escaped = str(image).replace(" ", "\\ ")
    text, found = extract_images(f"What is in {escaped} and {plain}?")
    assert text == "What is in and ?" or text == "What is in and?"
    assert [a.data for a in found] == [
        base64.b64encode(PNG).decode(),
        base64.b64encode(b"\xff\xd8\xff\xe0rest").decode(),
    ]
    quoted, found = extract_images(f"look '{image}'")
    assert quoted == "look" and len(found) == 1
    assert extract_images("no images here.png") == ("no images here.png", [])


def test_extract_images_bad_files_name_the_path(tmp_path: Path) -> None:
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    with pytest.raises(ValueError, match=r"fake.png' is not a JPEG, PNG or WebP image"):
        extract_images(f"see {fake}")
    with pytest.raises(ValueError, match=r"cannot read image .*missing.png"):
        extract_images(f"see {tmp_path}/missing.png")
    huge = tmp_path / "huge.png"
    with huge.open("wb") as handle:
        handle.write(PNG)
        handle.truncate(MAX_IMAGE_BYTES + 1)
    with pytest.raises(ValueError, match="larger than 100 MB"):
        extract_images(f"see {huge}")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("/s", ["/set", "/show", "/save", "/sessions"]),
        ("/set ", None),
        ("/set no", ["nohistory", "nowordwrap", "noformat", "nothink"]),
        ("/set parameter temp", ["temperature"]),
        ("/set format ", ["json"]),
        ("/show te", ["template"]),
        ("/load sm", ["smollm2:135m", "smollm2:latest"]),
        ("/save ", ["other:1", "smollm2:135m", "smollm2:latest"]),
        ("/? sh", ["show", "shortcuts"]),
        ("hello /s", []),
        ("/bye now ", []),
    ],
)
def test_slash_completion(typed: str, expected: list[str] | None) -> None:
    completer = SlashCompleter(lambda: ["other:1", "smollm2:135m", "smollm2:latest"])
    got = [c.text for c in completer.get_completions(Document(typed), CompleteEvent())]
    if expected is None:
        assert "parameter" in got and "nothink" in got
    else:
        assert got == expected
