"""Turn a Hugging Face checkpoint into a model layer, off the event loop.

The checkpoint's files reach the daemon as blobs, like any other create input;
they are linked under their file names into a scratch directory, converted on a
worker thread into a GGUF beside it, and the GGUF is hashed into the blob store.
Progress (`converting model`, tensor n of N) is yielded as it happens.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.convert import ConversionResult, convert_checkpoint
from corral.convert.lora import base_config_for, convert_lora
from corral.daemon.state import DaemonState
from corral.errors import ConversionError, InvalidRequest
from corral.gguf import GGUFInfo
from corral.store import MEDIA_ADAPTER, MEDIA_MODEL, Layer
from corral.store.digests import parse_digest

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "Converted",
    "convert_adapter_files",
    "convert_directory",
    "convert_files",
    "is_checkpoint_files",
]

CHECKPOINT_SUFFIXES = (".safetensors",)


@dataclass
class Converted:
    """Filled in once a conversion finishes: the stored GGUF layer and what it holds."""

    layer: Layer | None = None
    result: ConversionResult | None = None
    existed: bool = False
    """The blob was in the store before this conversion (so it is not ours to remove)."""


def is_checkpoint_files(files: Mapping[str, str]) -> bool:
    """Whether a create request's files are a safetensors checkpoint (and no GGUF)."""
    names = [n.lower() for n in files]
    return any(n.endswith(CHECKPOINT_SUFFIXES) for n in names) and not any(
        n.endswith(".gguf") for n in names
    )


def _scratch(state: DaemonState) -> Path:
    root = state.settings.home / "cache" / "convert"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="convert-", dir=root))


def _link_files(state: DaemonState, files: Mapping[str, str], target: Path) -> None:
    for name, digest_text in files.items():
        digest = parse_digest(digest_text)
        blob = state.store.blobs.path(digest)
        if not state.store.blobs.exists(digest):
            raise InvalidRequest(f'blob "{digest}" for {name} not found; upload it first')
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(blob, path)


def _import(state: DaemonState, output: Path, out: Converted) -> tuple[str, int]:
    digest = "sha256:" + _sha256(output)
    out.existed = state.store.blobs.exists(digest)
    return state.store.blobs.import_file(output, expected=digest)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


async def convert_directory(
    state: DaemonState,
    directory: Path,
    out: Converted,
    *,
    out_type: str = "F16",
    name: str | None = None,
) -> AsyncGenerator[dict[str, Any], None]:
    """Convert a checkpoint directory the daemon can read; fills `out` when done."""
    scratch = await asyncio.to_thread(_scratch, state)
    try:
        async for event in _convert(state, directory, scratch, out, out_type, name):
            yield event
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)


async def convert_files(
    state: DaemonState,
    files: Mapping[str, str],
    out: Converted,
    *,
    out_type: str = "F16",
    name: str | None = None,
) -> AsyncGenerator[dict[str, Any], None]:
    """Convert a checkpoint uploaded as blobs (`files`: name → digest); fills `out`."""
    scratch = await asyncio.to_thread(_scratch, state)
    try:
        source = scratch / "checkpoint"
        await asyncio.to_thread(source.mkdir)
        await asyncio.to_thread(_link_files, state, files, source)
        async for event in _convert(state, source, scratch, out, out_type, name):
            yield event
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)


async def _convert(
    state: DaemonState,
    source: Path,
    scratch: Path,
    out: Converted,
    out_type: str,
    name: str | None,
) -> AsyncGenerator[dict[str, Any], None]:
    yield {"status": "converting model"}
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    output = scratch / "model.gguf"

    stop = threading.Event()

    def progress(done: int, total: int) -> None:
        if stop.is_set():
            raise ConversionError("the conversion was canceled")
        loop.call_soon_threadsafe(queue.put_nowait, (done, total))

    work = asyncio.ensure_future(
        asyncio.to_thread(
            convert_checkpoint, source, output, out_type=out_type, name=name, progress=progress
        )
    )
    try:
        while not work.done() or not queue.empty():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, work}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                continue
            done, total = getter.result()
            yield {"status": "converting model", "total": total, "completed": done}
        result = work.result()
    except ConversionError:
        raise
    except OSError as exc:
        raise ConversionError(f"conversion failed: {exc}") from None
    finally:
        if not work.done():
            # A thread cannot be interrupted: ask it to stop at the next tensor, and
            # wait for it so the scratch directory is free to remove.
            stop.set()
            await asyncio.wait({work})
            if not work.cancelled():
                work.exception()
    digest, size = await asyncio.to_thread(_import, state, output, out)
    out.layer = Layer(media_type=MEDIA_MODEL, digest=digest, size=size)
    out.result = result
    yield {"status": f"creating new layer {digest}"}


async def convert_adapter_files(
    state: DaemonState, files: Mapping[str, str], base: GGUFInfo
) -> AsyncGenerator[dict[str, Any] | Layer, None]:
    """Convert a PEFT LoRA uploaded as blobs for the `base` model; the adapter layer comes last."""
    config = base_config_for(
        base.architecture,
        block_count=base.block_count,
        head_count=base.head_count,
        head_count_kv=base.head_count_kv,
        embedding_length=base.embedding_length,
    )
    yield {"status": "converting adapter"}
    scratch = await asyncio.to_thread(_scratch, state)
    try:
        source = scratch / "adapter"
        await asyncio.to_thread(source.mkdir)
        await asyncio.to_thread(_link_files, state, files, source)
        output = scratch / "adapter.gguf"
        await asyncio.to_thread(convert_lora, source, config, output)
        digest, size = await asyncio.to_thread(state.store.blobs.import_file, output)
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)
    yield {"status": f"creating new layer {digest}"}
    yield Layer(media_type=MEDIA_ADAPTER, digest=digest, size=size)
