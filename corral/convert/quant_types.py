"""The quantization levels `create --quantize` accepts, and which sources they start from.

The names are llama.cpp's file types (`LLAMA_FTYPE_MOSTLY_<NAME>`); the quantizer
itself runs in `python -m corral.runner.quantize`, the only place llama.cpp is loaded.
Types that need an importance matrix (IQ1/IQ2/IQ3_XXS) are left out.
"""

from __future__ import annotations

__all__ = ["QUANTIZABLE_SOURCES", "QUANT_TYPES", "normalize_quant_type"]

QUANT_TYPES: tuple[str, ...] = (
    "F32",
    "F16",
    "BF16",
    "Q8_0",
    "Q6_K",
    "Q5_K_M",
    "Q5_K_S",
    "Q5_1",
    "Q5_0",
    "Q4_K_M",
    "Q4_K_S",
    "Q4_1",
    "Q4_0",
    "Q3_K_L",
    "Q3_K_M",
    "Q3_K_S",
    "Q2_K",
    "IQ4_NL",
    "IQ4_XS",
    "TQ1_0",
    "TQ2_0",
)

QUANTIZABLE_SOURCES = frozenset({"F32", "F16", "BF16"})
"""File types a model must have to be quantized (as in Ollama, no re-quantizing)."""


def normalize_quant_type(value: str) -> str | None:
    """The canonical name of a quantization level (`q4_k_m` → `Q4_K_M`), or None."""
    name = value.strip().upper()
    return name if name in QUANT_TYPES else None
