"""What the engine's worker thread sends back to a request's handler, one event at a time.

A completion yields `Started` (or `Failed` when the request is rejected), then `Piece`s,
then `Done` (or `Failed` when decoding breaks mid-stream).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from corral.errors import CorralError

__all__ = ["Done", "Event", "Failed", "Piece", "Sink", "Started"]


@dataclass(frozen=True, slots=True)
class Started:
    """The request was accepted: its prompt fits and its sampler was built."""

    prompt_tokens: int


@dataclass(frozen=True, slots=True)
class Piece:
    """Generated text that is safe to send (whole characters, no stop string)."""

    content: str
    logprobs: tuple[dict[str, Any], ...] = ()
    """Entries of the tokens this text came from, when the request asked for logprobs."""


@dataclass(frozen=True, slots=True)
class Done:
    """The end of a completion, with Ollama's counters (durations in nanoseconds)."""

    done_reason: str
    prompt_eval_count: int
    prompt_eval_duration: int
    eval_count: int
    eval_duration: int

    def to_json(self) -> dict[str, object]:
        """The final NDJSON line."""
        return {
            "done": True,
            "done_reason": self.done_reason,
            "prompt_eval_count": self.prompt_eval_count,
            "prompt_eval_duration": self.prompt_eval_duration,
            "eval_count": self.eval_count,
            "eval_duration": self.eval_duration,
        }


@dataclass(frozen=True, slots=True)
class Failed:
    """The request failed; before `Started` this becomes an HTTP error, after it an error line."""

    error: CorralError


Event = Started | Piece | Done | Failed
Sink = Callable[[Event], None]
"""Called on the worker thread; must not block (it writes to a socket or hands the event
to the loop)."""
