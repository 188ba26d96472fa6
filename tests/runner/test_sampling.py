"""The native sampler chain: which stages a request gets, and that llama.cpp builds them."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.errors import InvalidRequest
from corral.runner.params import parse_completion
from corral.runner.sampling import DEFAULT_SEED, Stage, penalty_window, sampler_stages

N_CTX = 2048


def stages(**body: object) -> list[Stage]:
    return sampler_stages(parse_completion({"prompt": "x", **body}), N_CTX)


def kinds(**body: object) -> list[str]:
    return [s.kind for s in stages(**body)]


def test_defaults_follow_llama_servers_order():
    # Ollama's defaults: top_k 40, top_p 0.9, repeat_penalty 1.1 over 64, temperature 0.8.
    assert stages(seed=7) == [
        Stage("penalties", (64, 1.1, 0.0, 0.0)),
        Stage("top_k", (40,)),
        Stage("top_p", (0.9, 1)),
        Stage("temp", (0.8,)),
        Stage("dist", (7,)),
    ]


def test_every_option_reaches_its_stage():
    got = stages(
        grammar='root ::= "a"',
        repeat_last_n=32,
        repeat_penalty=1.3,
        frequency_penalty=0.5,
        presence_penalty=0.25,
        top_k=10,
        typical_p=0.7,
        top_p=0.8,
        min_p=0.05,
        temperature=1.5,
        seed=42,
    )
    assert got == [
        Stage("grammar", ('root ::= "a"', "root")),
        Stage("penalties", (32, 1.3, 0.5, 0.25)),
        Stage("top_k", (10,)),
        Stage("typical", (0.7, 1)),
        Stage("top_p", (0.8, 1)),
        Stage("min_p", (0.05, 1)),
        Stage("temp", (1.5,)),
        Stage("dist", (42,)),
    ]


def test_temperature_zero_is_greedy_after_grammar_and_penalties():
    assert kinds(temperature=0, grammar='root ::= "a"') == ["grammar", "penalties", "greedy"]
    assert kinds(temperature=0, repeat_penalty=1.0) == ["greedy"]


def test_disabled_settings_leave_their_stage_out():
    assert kinds(top_k=0, top_p=1.0, min_p=0.0, typical_p=1.0, repeat_penalty=1.0) == [
        "temp",
        "dist",
    ]
    assert kinds(repeat_last_n=0) == ["top_k", "top_p", "temp", "dist"]


def test_penalty_window():
    req = parse_completion({"prompt": "x", "repeat_last_n": -1})
    assert penalty_window(req, N_CTX) == N_CTX  # -1: the whole context
    req = parse_completion({"prompt": "x", "repeat_penalty": 1.0, "presence_penalty": 0.5})
    assert penalty_window(req, N_CTX) == 64  # a presence penalty alone turns them on
    req = parse_completion({"prompt": "x", "repeat_penalty": 0})
    assert penalty_window(req, N_CTX) == 0  # 0 means "off", as in Ollama


@pytest.mark.parametrize(("seed", "expected"), [(-1, DEFAULT_SEED), (0, 0), (2**32 + 5, 5)])
def test_seed(seed, expected):
    assert stages(seed=seed)[-1] == Stage("dist", (expected,))


# -- the real chain, built by llama.cpp from a vocabulary-only load of SmolLM2 -----------------


@pytest.fixture(scope="module")
def loaded(smollm2_gguf: Path) -> Iterator[object]:
    import llama_cpp as ll

    from corral.runner.config import RunnerConfig
    from corral.runner.model import LoadedModel

    quiet = ll.llama_log_callback(lambda *_: None)
    ll.llama_log_set(quiet, ctypes.c_void_p(0))
    ll.llama_backend_init()
    params = ll.llama_model_default_params()
    params.vocab_only = True
    model = ll.llama_model_load_from_file(str(smollm2_gguf).encode(), params)
    assert model
    cparams = ll.llama_context_default_params()
    cparams.n_ctx = 256
    ctx = ll.llama_init_from_model(model, cparams)
    assert ctx
    lm = LoadedModel(model, ctx, [], RunnerConfig(model=smollm2_gguf, port=0))
    yield lm
    lm.free()


def chain_names(loaded: object, **body: object) -> list[str]:
    import llama_cpp as ll

    req = parse_completion({"prompt": "x", **body})
    chain = loaded.make_sampler(req, [1, 2, 3])  # type: ignore[attr-defined]
    try:
        n = ll.llama_sampler_chain_n(chain)
        return [
            ll.llama_sampler_name(ll.llama_sampler_chain_get(chain, i)).decode() for i in range(n)
        ]
    finally:
        ll.llama_sampler_free(chain)


@pytest.mark.integration
def test_llama_cpp_builds_every_stage(loaded: object):
    names = chain_names(
        loaded,
        grammar='root ::= "a"',
        frequency_penalty=0.5,
        typical_p=0.7,
        min_p=0.05,
        seed=3,
    )
    assert names == ["grammar", "penalties", "top-k", "typical", "top-p", "min-p", "temp", "dist"]
    assert chain_names(loaded, temperature=0) == ["penalties", "greedy"]


@pytest.mark.integration
def test_a_bad_grammar_is_an_invalid_request(loaded: object):
    with pytest.raises(InvalidRequest, match='"grammar"'):
        chain_names(loaded, grammar="root ::= (")
