"""Token log-probabilities from the logits llama.cpp computed for one batch row.

Only requests that ask for logprobs pay for this: a log-softmax over the vocabulary
and a partial sort for the top alternatives, done with numpy on the worker thread.
The probabilities are the model's own (before temperature, penalties or grammar), as
in Ollama and llama-server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import llama_cpp as ll
import numpy as np

__all__ = ["MAX_TOP_LOGPROBS", "token_logprobs"]

MAX_TOP_LOGPROBS = 20


def _entry(piece: bytes, logprob: float) -> dict[str, Any]:
    return {
        "token": piece.decode("utf-8", "replace"),
        "logprob": logprob,
        "bytes": list(piece),
    }


def token_logprobs(
    ctx: Any,
    row: int,
    n_vocab: int,
    token: int,
    top: int,
    piece: Callable[[int], bytes],
) -> dict[str, Any]:
    """Ollama's logprob entry for `token` sampled from batch row `row`, with `top` alternatives."""
    ptr = ll.llama_get_logits_ith(ctx, row)
    logits = np.ctypeslib.as_array(ptr, shape=(n_vocab,)).astype(np.float64)
    peak = float(logits.max())
    log_total = peak + float(np.log(np.exp(logits - peak).sum()))
    entry = _entry(piece(token), float(logits[token]) - log_total)
    if top > 0:
        k = min(top, MAX_TOP_LOGPROBS, n_vocab)
        best = np.argpartition(-logits, k - 1)[:k]
        best = best[np.argsort(-logits[best], kind="stable")]
        entry["top_logprobs"] = [_entry(piece(int(t)), float(logits[t]) - log_total) for t in best]
    return entry
