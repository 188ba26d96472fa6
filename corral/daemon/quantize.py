"""Quantize a stored GGUF into a new model layer with llama.cpp's quantizer.

The quantizer runs as `python -m corral.runner.quantize` (llama.cpp is loaded only
by runner processes); its NDJSON progress becomes `quantizing F16 model to Q4_K_M`
events with tensor counts. Only F32/F16/BF16 models can be quantized, as in Ollama.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from corral import envconfig
from corral.convert.quant_types import QUANTIZABLE_SOURCES
from corral.daemon.state import DaemonState
from corral.errors import ConversionError
from corral.gguf import GGUFInfo
from corral.store import MEDIA_MODEL, Layer

__all__ = ["check_quantizable", "quantize_layer"]


def check_quantizable(info: GGUFInfo, kind: str) -> None:
    """Refuse to quantize a model that is already quantized.

    Raises:
        ConversionError: the model's file type is not F32, F16 or BF16.
    """
    if info.file_type not in QUANTIZABLE_SOURCES:
        raise ConversionError(
            f"cannot quantize a {info.file_type} model to {kind}: quantization is only "
            "supported for F16, BF16 and F32 models"
        )


async def _run(args: list[str]) -> AsyncGenerator[dict[str, Any], None]:
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    stderr = asyncio.ensure_future(process.stderr.read())
    error: str | None = None
    try:
        async for raw in process.stdout:
            try:
                event = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict):
                if "error" in event:
                    error = str(event["error"])
                yield event
        await process.wait()
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        tail = await stderr
    if process.returncode != 0:
        lines = [ln for ln in tail.decode(errors="replace").splitlines() if ln.strip()]
        reason = error or (lines[-1] if lines else f"exit status {process.returncode}")
        raise ConversionError(reason)


async def quantize_layer(
    state: DaemonState, layer: Layer, info: GGUFInfo, kind: str
) -> AsyncGenerator[dict[str, Any] | Layer, None]:
    """Yield progress events, then the new model layer as the last item."""
    check_quantizable(info, kind)
    status = f"quantizing {info.file_type} model to {kind}"
    yield {"status": status}
    root = state.settings.home / "cache" / "quantize"
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="quantize-", dir=root))
    try:
        output = scratch / "model.gguf"
        args = [
            sys.executable,
            "-m",
            "corral.runner.quantize",
            "--input",
            str(state.store.blobs.path(layer.digest)),
            "--output",
            str(output),
            "--type",
            kind,
            "--threads",
            str(envconfig.num_thread() or 0),
        ]
        async for event in _run(args):
            if "total" in event:
                yield {"status": status, "total": event["total"], "completed": event["completed"]}
        digest, size = await asyncio.to_thread(state.store.blobs.import_file, output)
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)
    yield {"status": f"creating new layer {digest}"}
    yield Layer(media_type=MEDIA_MODEL, digest=digest, size=size)
