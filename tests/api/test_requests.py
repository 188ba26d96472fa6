from __future__ import annotations

import pytest

from corral.api import decode_body, parse_chat, parse_create, parse_generate
from corral.durations import FOREVER
from corral.errors import InvalidRequest


def test_decode_body() -> None:
    assert decode_body(b'{"a": 1}') == {"a": 1}
    assert decode_body(b"null") == {}
    for raw, needle in [
        (b"", "missing request body"),
        (b"  ", "missing request body"),
        (b"{", "invalid JSON"),
        (b"[]", "must be a JSON object"),
        (b"\xff\xfe", "invalid JSON"),
    ]:
        with pytest.raises(InvalidRequest, match=needle):
            decode_body(raw)


def test_generate_defaults_and_fields() -> None:
    req = parse_generate(
        {
            "model": "m",
            "prompt": "p",
            "keep_alive": "5m",
            "options": {"seed": 1},
            "images": ["aGk="],
            "name_unknown": True,
        }
    )
    assert (req.model, req.prompt, req.stream, req.keep_alive) == ("m", "p", True, 300)
    assert req.options == {"seed": 1} and req.images == ("aGk=",)
    assert parse_generate({"model": "m", "keep_alive": -1}).keep_alive == FOREVER
    assert parse_generate({"model": "m"}).keep_alive is None


def test_chat_lowercases_roles_and_reads_tool_fields() -> None:
    req = parse_chat(
        {
            "model": "m",
            "messages": [
                {"role": "USER", "content": "hi"},
                {"role": "tool", "content": "42", "tool_name": "calc", "tool_call_id": "call_1"},
            ],
        }
    )
    assert [m.role for m in req.messages] == ["user", "tool"]
    assert req.messages[1].to_dict() == {
        "role": "tool",
        "content": "42",
        "tool_name": "calc",
        "tool_call_id": "call_1",
    }


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            {"model": "m", "stream": "yes"},
            'invalid value for "stream": expected a boolean, got "yes"',
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": 5}]},
            'invalid value for "messages[0].content": expected a string, got 5',
        ),
        ({"model": "m", "messages": ["hi"]}, 'invalid value for "messages[0]": expected an object'),
        ({"model": "m", "options": []}, 'invalid value for "options": expected an object'),
        ({"model": "m", "format": "xml"}, "invalid format"),
        ({"model": "m", "think": "very"}, "invalid think value"),
        ({"model": "m", "top_logprobs": 21}, "top_logprobs must be between 0 and 20"),
        ({"messages": []}, "model is required"),
    ],
)
def test_chat_errors_name_the_field(body: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_chat(body)
    assert needle in str(caught.value)


def test_generate_raw_rejects_template_system_context() -> None:
    with pytest.raises(InvalidRequest, match="raw mode does not support"):
        parse_generate({"model": "m", "raw": True, "context": [1, 2]})
    with pytest.raises(InvalidRequest, match="context"):
        parse_generate({"model": "m", "context": ["a"]})


def test_create_accepts_deprecated_names_and_license_string() -> None:
    req = parse_create(
        {"name": "m", "quantization": "q4_K_M", "license": "MIT", "files": {"a.gguf": "sha256:x"}}
    )
    assert req.model == "m" and req.quantize == "q4_K_M" and req.license == ("MIT",)
    assert req.messages is None
    with pytest.raises(InvalidRequest, match=r'"files\.a\.gguf"'):
        parse_create({"model": "m", "files": {"a.gguf": 1}})
