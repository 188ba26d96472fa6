"""Slot bookkeeping for continuous batching: which sequence serves a prompt, and how much
of its KV cache can be kept.

Pure logic over token lists; the engine owns the llama.cpp side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .text import common_prefix_len

__all__ = ["Slot", "pick_slot", "reusable_prefix"]


@dataclass(eq=False, slots=True)
class Slot:
    """One sequence of the shared llama context."""

    seq_id: int
    cache: list[int] = field(default_factory=list)
    """The tokens whose keys and values sit in this sequence's KV cache, in order."""
    last_used: int = 0
    """A counter value from when the slot last took a request (for least-recently-used)."""
    job: Any = None
    """The request it serves now, or None when free."""


def reusable_prefix(cache: Sequence[int], prompt: Sequence[int]) -> int:
    """How many prompt tokens can stay in the KV cache.

    At least the last prompt token is always evaluated again, because its logits are
    needed to sample the first new token.
    """
    return max(0, min(common_prefix_len(cache, prompt), len(prompt) - 1))


def pick_slot(slots: Sequence[Slot], prompt: Sequence[int]) -> Slot | None:
    """Choose the free slot sharing the longest prefix with `prompt`, else the least recently used.

    Returns None when every slot is busy.
    """
    best: Slot | None = None
    best_key = (-1, 0)
    for slot in slots:
        if slot.job is not None:
            continue
        key = (common_prefix_len(slot.cache, prompt), -slot.last_used)
        if best is None or key > best_key:
            best, best_key = slot, key
    return best
