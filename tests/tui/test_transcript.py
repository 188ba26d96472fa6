"""Chat text helpers: Markdown export, code blocks, option lines and the fit readout."""

from __future__ import annotations

import pytest

from corral.errors import InvalidRequest, ModelfileError
from corral.sessions import StoredMessage
from corral.tui.transcript import code_blocks, fit_text, format_options, parse_options, to_markdown


def test_to_markdown() -> None:
    text = to_markdown(
        "m", "Be brief.", [StoredMessage("user", "hi"), StoredMessage("assistant", "hello\n")]
    )
    assert (
        text == "# Chat with m\n\n**System:** Be brief.\n\n## user\n\nhi\n\n## assistant\n\nhello\n"
    )


def test_code_blocks_in_order_and_unclosed_fence_ignored() -> None:
    text = "a\n```python\nprint(1)\n```\nb\n~~~\nx = 2\n~~~\n```sh\nunclosed\n"
    assert code_blocks(text) == ["print(1)\n", "x = 2\n"]
    assert code_blocks("no code") == []


def test_options_round_trip() -> None:
    options = parse_options("temperature=0.5 num_ctx=4096 stop=### stop=END")
    assert options == {"temperature": 0.5, "num_ctx": 4096, "stop": ["###", "END"]}
    assert parse_options(format_options(options)) == options
    assert parse_options("") == {}


@pytest.mark.parametrize(
    ("text", "error", "fragment"),
    [
        ("temperature", InvalidRequest, "'temperature' is not name=value"),
        ("=3", InvalidRequest, "not name=value"),
        ("temperature=hot", ModelfileError, "hot"),
        ("bogus=1", ModelfileError, "bogus"),
    ],
)
def test_bad_options_name_the_bad_word(text: str, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as caught:
        parse_options(text)
    assert fragment in str(caught.value)


def _system(vram_free: int | None, ram_free: int) -> dict[str, object]:
    gpus = [] if vram_free is None else [{"vram_total": 10_000, "vram_used": 10_000 - vram_free}]
    return {"gpus": gpus, "memory": {"total": 100_000, "available": ram_free}}


def test_fit_text_without_a_daemon_estimate_names_the_chat_context() -> None:
    assert fit_text(1000, _system(5000, 50_000)) == "default num_ctx: fits on GPU (5 KB free)"
    assert fit_text(1000, _system(None, 50_000), 2048) == (
        "num_ctx 2048: fits in RAM (CPU) (50 KB free)"
    )
    assert fit_text(9000, _system(5000, 50_000)).startswith("default num_ctx: fits in RAM, partly")
    assert fit_text(90_000, _system(None, 50_000), 512).startswith("num_ctx 512: too big, needs")


def test_fit_text_takes_the_daemons_context_and_estimate() -> None:
    system = {**_system(5000, 50_000), "fit": {"num_ctx": 8192, "required": 6000}}
    # The daemon's figure (6000) decides, not size * OVERHEAD (1200), and its context wins.
    assert fit_text(1000, system, 99_999) == "num_ctx 8192: fits in RAM, partly GPU (50 KB free)"
    small = {**_system(5000, 50_000), "fit": {"num_ctx": 1024, "required": 900}}
    assert fit_text(100_000, small) == "num_ctx 1024: fits on GPU (5 KB free)"
    big = {**_system(None, 50_000), "fit": {"num_ctx": 4096, "required": 80_000}}
    assert fit_text(1, big) == "num_ctx 4096: too big, needs ~80 KB, 50 KB free"
