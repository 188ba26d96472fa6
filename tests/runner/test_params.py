"""Validation of runner request bodies."""

from __future__ import annotations

import pytest

from corral.errors import InvalidRequest
from corral.runner.params import (
    parse_completion,
    parse_detokenize,
    parse_embedding,
    parse_tokenize,
)


def test_completion_defaults_and_values():
    req = parse_completion({"prompt": "hi", "temperature": 0, "stop": ["a", ""], "seed": 3})
    assert req.prompt == "hi"
    assert req.temperature == 0.0
    assert req.stop == ("a",)
    assert req.seed == 3
    assert req.n_predict == -1
    assert req.grammar is None
    assert req.add_bos is None


def test_completion_accepts_nulls_as_defaults_and_a_single_stop_string():
    req = parse_completion({"prompt": "x", "grammar": None, "top_k": None, "stop": "END"})
    assert req.top_k == 40
    assert req.stop == ("END",)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": 5}, "prompt"),
        ({}, "prompt"),
        ({"prompt": "x", "n_predict": "5"}, "n_predict"),
        ({"prompt": "x", "n_predict": 1.5}, "n_predict"),
        ({"prompt": "x", "top_k": True}, "top_k"),
        ({"prompt": "x", "temperature": "hot"}, "temperature"),
        ({"prompt": "x", "temperature": -1}, "temperature"),
        ({"prompt": "x", "top_p": 1.5}, "top_p"),
        ({"prompt": "x", "stop": [1]}, "stop"),
        ({"prompt": "x", "stop": {"a": 1}}, "stop"),
        ({"prompt": "x", "grammar": 3}, "grammar"),
        ({"prompt": "x", "add_bos": "yes"}, "add_bos"),
        ({"prompt": "x", "seed": None, "repeat_last_n": -5}, "repeat_last_n"),
        ({"prompt": "x", "temprature": 0.1}, "temprature"),
    ],
)
def test_completion_bad_fields_are_named(body, field):
    with pytest.raises(InvalidRequest, match=f'"{field}"'):
        parse_completion(body)


def test_completion_body_must_be_an_object():
    with pytest.raises(InvalidRequest, match="JSON object"):
        parse_completion(["prompt"])


def test_tokenize_and_detokenize():
    req = parse_tokenize({"content": "a", "add_special": True})
    assert req.add_special and req.parse_special
    assert parse_detokenize({"tokens": [1, 2]}).tokens == (1, 2)
    with pytest.raises(InvalidRequest, match='"content"'):
        parse_tokenize({"content": 1})
    with pytest.raises(InvalidRequest, match='"tokens"'):
        parse_detokenize({"tokens": "12"})
    with pytest.raises(InvalidRequest, match='"tokens"'):
        parse_detokenize({"tokens": [1, "2"]})


def test_embedding_content_string_or_list():
    assert parse_embedding({"content": "a"}).content == ("a",)
    assert parse_embedding({"content": ["a", "b"]}).content == ("a", "b")
    with pytest.raises(InvalidRequest, match='"content"'):
        parse_embedding({"content": [1]})


def test_completion_logprobs_fields():
    req = parse_completion({"prompt": "x", "logprobs": True, "top_logprobs": 20})
    assert req.logprobs and req.top_logprobs == 20
    assert not parse_completion({"prompt": "x"}).logprobs
    for bad in (21, -1):
        with pytest.raises(InvalidRequest, match='"top_logprobs" must be between 0 and 20'):
            parse_completion({"prompt": "x", "logprobs": True, "top_logprobs": bad})
    with pytest.raises(InvalidRequest, match='"logprobs"'):
        parse_completion({"prompt": "x", "logprobs": "yes"})


def test_embedding_truncate_flag():
    assert parse_embedding({"content": "a"}).truncate is True
    assert parse_embedding({"content": "a", "truncate": False}).truncate is False
    with pytest.raises(InvalidRequest, match='"truncate"'):
        parse_embedding({"content": "a", "truncate": "no"})
