"""Context-window arithmetic: prompt truncation and context shift, by Ollama's rules.

A sequence may hold at most `n_ctx` tokens. A longer prompt keeps its first `keep`
tokens and drops the oldest ones after them; a generation that fills the context
drops the oldest half of what follows the kept tokens and slides the rest down.
Pure integers and token lists; the engine applies the result to the KV cache.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["keep_count", "shift_discard", "truncate_prompt"]


def keep_count(num_keep: int, n_prompt: int, n_ctx: int, *, add_bos: bool) -> int:
    """How many leading tokens a truncation or shift must never drop.

    `num_keep` < 0 keeps the whole prompt. A model that adds BOS keeps it on top of
    `num_keep`. The result leaves at least one token that can go (at most `n_ctx - 1`).
    """
    keep = n_prompt if num_keep < 0 else num_keep
    if add_bos:
        keep += 1
    return max(0, min(keep, n_ctx - 1))


def truncate_prompt(tokens: Sequence[int], keep: int, n_ctx: int) -> list[int]:
    """Cut a prompt to `n_ctx` tokens: the first `keep`, then the newest that fit."""
    if len(tokens) <= n_ctx:
        return list(tokens)
    discard = len(tokens) - n_ctx
    return [*tokens[:keep], *tokens[keep + discard :]]


def shift_discard(n_cached: int, keep: int, n_ctx: int) -> int:
    """Tokens to drop after the first `keep` so that half the free room is regained.

    The target is `(n_ctx - keep) // 2` free cells (at least one); tokens already free
    count towards it, so a sequence that is not full drops less, or nothing.
    """
    target_free = max((n_ctx - keep) // 2, 1)
    return max(0, target_free - (n_ctx - n_cached))
