"""Bounded GGUF reading: metadata, tensor table and memory estimates, safe on hostile files.

`read_gguf` validates a GGUF header without trusting any count or length in it and
returns a `GGUFInfo`; `estimate_memory` turns that into the bytes a llama.cpp runner
needs; `model_info` renders the metadata as Ollama's `/api/show` does; `build_gguf`
writes small GGUF files for tests and fixtures.
"""

from __future__ import annotations

from corral.gguf._format import ArraySummary
from corral.gguf.info import GGUFInfo, TensorInfo, human_number, model_info
from corral.gguf.memory import MemoryEstimate, estimate_memory
from corral.gguf.reader import is_gguf, read_gguf
from corral.gguf.writer import build_gguf

__all__ = [
    "ArraySummary",
    "GGUFInfo",
    "MemoryEstimate",
    "TensorInfo",
    "build_gguf",
    "estimate_memory",
    "human_number",
    "is_gguf",
    "model_info",
    "read_gguf",
]
