"""`python -m corral.runner.quantize --input F16.gguf --output OUT.gguf --type Q4_K_M`.

Runs llama.cpp's own quantizer (`llama_model_quantize`) in this subprocess, so the
daemon never loads llama.cpp. Progress goes to stdout as NDJSON, one
`{"completed": n, "total": N}` line per tensor, taken from the quantizer's log;
the last line is `{"status": "success"}` or `{"error": "..."}` (exit status 1).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import llama_cpp as ll

__all__ = ["main", "quantize"]

_TENSOR_LINE = re.compile(r"\[\s*(\d+)/\s*(\d+)\]")
_LOG_ERROR = 4


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class _Log:
    """llama.cpp's log during quantization: tensor counters out, error lines kept."""

    def __init__(self) -> None:
        self.partial = ""
        self.errors: list[str] = []
        self.callback = ll.llama_log_callback(self._on_log)

    def _on_log(self, level: int, text: bytes | None, _user: Any) -> None:
        try:
            self.partial += text.decode("utf-8", "replace") if text else ""
            while "\n" in self.partial:
                line, _, self.partial = self.partial.partition("\n")
                match = _TENSOR_LINE.search(line)
                if match:
                    _emit({"completed": int(match[1]), "total": int(match[2])})
                elif level == _LOG_ERROR and line.strip():
                    self.errors.append(line.strip())
        except Exception:  # an exception must never cross back into C
            pass


def quantize(source: Path, target: Path, kind: str, threads: int = 0) -> str | None:
    """Quantize `source` into `target`; the error text, or None on success."""
    ftype = getattr(ll, f"LLAMA_FTYPE_MOSTLY_{kind}", None)
    if kind == "F32":
        ftype = ll.LLAMA_FTYPE_ALL_F32
    if ftype is None:
        return f"llama.cpp has no quantization type {kind}"
    log = _Log()
    ll.llama_log_set(log.callback, ctypes.c_void_p(0))
    ll.llama_backend_init()
    params = ll.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    status = ll.llama_model_quantize(
        str(source).encode(), str(target).encode(), ctypes.byref(params)
    )
    if status != 0:
        reason = log.errors[-1] if log.errors else f"llama_model_quantize returned {status}"
        return f"quantizing to {kind} failed: {reason}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corral.runner.quantize")
    parser.add_argument("--input", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--type", required=True)
    parser.add_argument("--threads", type=int, default=0)
    ns = parser.parse_args(argv)
    error = quantize(ns.input, ns.output, ns.type.upper(), ns.threads)
    if error is not None:
        ns.output.unlink(missing_ok=True)
        _emit({"error": error})
        return 1
    _emit({"status": "success"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
