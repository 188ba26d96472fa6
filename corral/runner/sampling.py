"""Which native llama.cpp samplers a request's chain holds, in llama-server's order.

Pure: this module turns a `CompletionRequest` into a list of stages; `model.py` builds
the `llama_sampler_*` chain from it, so sampling never copies logits into Python.
"""

from __future__ import annotations

from dataclasses import dataclass

from .params import CompletionRequest

__all__ = ["DEFAULT_SEED", "Stage", "penalty_window", "sampler_stages"]

DEFAULT_SEED = 0xFFFFFFFF
"""llama.cpp's LLAMA_DEFAULT_SEED: the dist sampler then picks a random seed."""


@dataclass(frozen=True, slots=True)
class Stage:
    """One sampler of the chain: its kind and the arguments of its `llama_sampler_init_*`."""

    kind: str
    """grammar, penalties, top_k, typical, top_p, min_p, temp, dist or greedy."""
    args: tuple[float | int | str, ...] = ()


def penalty_window(req: CompletionRequest, n_ctx: int) -> int:
    """Tokens the repetition penalties look back over (0: no penalties at all)."""
    last_n = n_ctx if req.repeat_last_n == -1 else req.repeat_last_n
    repeat = req.repeat_penalty if req.repeat_penalty > 0 else 1.0
    if last_n > 0 and (repeat != 1.0 or req.frequency_penalty or req.presence_penalty):
        return last_n
    return 0


def sampler_stages(req: CompletionRequest, n_ctx: int) -> list[Stage]:
    """The chain for `req`: grammar, penalties, truncations, temperature, then the draw.

    Temperature 0 (or less) is greedy: the truncating samplers cannot change the argmax,
    so they are left out. A stage whose setting disables it (top_k 0, top_p 1, ...) is
    left out too.
    """
    stages: list[Stage] = []
    if req.grammar:
        stages.append(Stage("grammar", (req.grammar, "root")))
    last_n = penalty_window(req, n_ctx)
    if last_n:
        repeat = req.repeat_penalty if req.repeat_penalty > 0 else 1.0
        stages.append(
            Stage("penalties", (last_n, repeat, req.frequency_penalty, req.presence_penalty))
        )
    if req.temperature <= 0:
        stages.append(Stage("greedy"))
        return stages
    if req.top_k > 0:
        stages.append(Stage("top_k", (req.top_k,)))
    if req.typical_p < 1.0:
        stages.append(Stage("typical", (req.typical_p, 1)))
    if req.top_p < 1.0:
        stages.append(Stage("top_p", (req.top_p, 1)))
    if req.min_p > 0.0:
        stages.append(Stage("min_p", (req.min_p, 1)))
    stages.append(Stage("temp", (req.temperature,)))
    seed = DEFAULT_SEED if req.seed == -1 else req.seed & 0xFFFFFFFF
    stages.append(Stage("dist", (seed,)))
    return stages
