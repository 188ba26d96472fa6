"""Build a model from a CreateRequest: validate blobs, assemble layers, write the manifest.

Local files reach the daemon as blobs first (`POST /api/blobs/:digest`), so the
request names content by digest only and a remote daemon works the same way.
Progress is yielded as Ollama's `{"status": ...}` objects.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import posixpath
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any

from corral.api import CreateRequest, validate_option
from corral.api.options import DEPRECATED_OPTIONS, OPTION_TYPES
from corral.convert import OUTPUT_TYPES
from corral.convert.quant_types import QUANT_TYPES, normalize_quant_type
from corral.daemon.convert import (
    Converted,
    convert_adapter_files,
    convert_files,
    is_checkpoint_files,
)
from corral.daemon.quantize import quantize_layer
from corral.daemon.state import DaemonState
from corral.errors import GGUFError, InvalidRequest, ModelNotFound
from corral.gguf import GGUFInfo, read_gguf
from corral.names import ModelName
from corral.store import (
    MEDIA_ADAPTER,
    MEDIA_LICENSE,
    MEDIA_MESSAGES,
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_PROJECTOR,
    MEDIA_SYSTEM,
    MEDIA_TEMPLATE,
    Layer,
    StoredModel,
)
from corral.store.digests import parse_digest
from corral.template import detect_template, parse_template

__all__ = ["ModelParts", "create_model", "is_projector", "write_model"]

logger = logging.getLogger(__name__)

Progress = dict[str, Any]


@dataclass
class ModelParts:
    """The pieces of a model before they become layers."""

    model: Layer | None = None
    gguf: GGUFInfo | None = None
    adapters: list[Layer] = field(default_factory=list)
    projectors: list[Layer] = field(default_factory=list)
    template: str | None = None
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    licenses: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


def _check_relative(name: str) -> None:
    normal = posixpath.normpath(name.replace("\\", "/"))
    if (
        not name
        or name.startswith(("/", "\\"))
        or normal.startswith("..")
        or ":" in name
        or "\0" in name
    ):
        raise InvalidRequest(f'file path must be relative: "{name}"')


def _check_parameters(params: Mapping[str, Any]) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for name, value in params.items():
        if name in DEPRECATED_OPTIONS:
            logger.warning("dropping deprecated parameter %s", name)
            continue
        if name not in OPTION_TYPES:
            raise InvalidRequest(f'unknown parameter "{name}"')
        if name == "stop" and isinstance(value, str):
            value = [value]
        checked[name] = validate_option(name, value)
    return checked


async def _blob_layer(state: DaemonState, digest_text: str, media_type: str) -> Layer:
    digest = parse_digest(digest_text)
    path = state.store.blobs.path(digest)
    if not await asyncio.to_thread(path.exists):
        raise InvalidRequest(f'blob "{digest}" not found; upload it with POST /api/blobs/{digest}')
    size = (await asyncio.to_thread(path.stat)).st_size
    return Layer(media_type=media_type, digest=digest, size=size)


async def _gguf_of(state: DaemonState, layer: Layer, label: str) -> GGUFInfo:
    path = state.store.blobs.path(layer.digest)
    try:
        return await asyncio.to_thread(read_gguf, path)
    except GGUFError as exc:
        raise InvalidRequest(f"supplied file {label} was not in GGUF format: {exc}") from None


def _inherit(parts: ModelParts, base: StoredModel) -> None:
    for layer in base.manifest.layers:
        if layer.media_type == MEDIA_MODEL:
            parts.model = Layer(layer.media_type, layer.digest, layer.size, from_=base.name.full)
        elif layer.media_type == MEDIA_ADAPTER:
            parts.adapters.append(layer)
        elif layer.media_type == MEDIA_PROJECTOR:
            parts.projectors.append(layer)
    parts.template = base.template
    parts.system = base.system
    parts.params = dict(base.params)
    parts.messages = [dict(m) for m in base.messages]
    parts.licenses = list(base.license)
    parts.config = {k: v for k, v in base.config.items() if k not in {"rootfs"}}


def is_projector(info: GGUFInfo) -> bool:
    """Whether a GGUF is a vision/audio projector (mmproj), as Ollama's create tells them.

    llama.cpp writes projectors with architecture `clip` and `general.type` `mmproj`; a
    file with vision blocks and no text blocks is one too.
    """
    kind = str(info.metadata.get("general.type", ""))
    arch = info.architecture
    vision_blocks = info.metadata.get(f"{arch}.vision.block_count")
    return (
        kind in {"mmproj", "projector"}
        or arch == "clip"
        or (not info.block_count and bool(vision_blocks))
    )


async def _split_projectors(
    state: DaemonState, files: Mapping[str, str], ggufs: list[str], parts: ModelParts
) -> list[str]:
    """Move the projector GGUFs among `ggufs` into `parts.projectors`; the others remain."""
    models: list[str] = []
    for name in ggufs:
        layer = await _blob_layer(state, files[name], MEDIA_PROJECTOR)
        info = await _gguf_of(state, layer, name)
        if is_projector(info):
            parts.projectors.append(layer)
        else:
            models.append(name)
    return models


def _config_from_gguf(info: GGUFInfo) -> dict[str, Any]:
    return {
        "model_format": "gguf",
        "model_family": info.architecture,
        "model_families": [info.architecture],
        "model_type": info.parameter_size,
        "file_type": info.file_type,
    }


async def _quantize(
    state: DaemonState, parts: ModelParts, kind: str, request: CreateRequest
) -> AsyncGenerator[Progress, None]:
    """Replace the parts' model layer with its quantization to `kind`."""
    assert parts.model is not None
    info = parts.gguf or await _gguf_of(state, parts.model, parts.model.digest)
    layer: Layer | None = None
    async for item in quantize_layer(state, parts.model, info, kind):
        if isinstance(item, Layer):
            layer = item
        else:
            yield item
    assert layer is not None
    parts.model = layer
    parts.gguf = await _gguf_of(state, layer, "the quantized model")
    parts.config.update(_config_from_gguf(parts.gguf))


def _use_gguf(parts: ModelParts, info: GGUFInfo, request: CreateRequest) -> str | None:
    """Take config, template and stop parameters from the model's GGUF; the template's name."""
    parts.config = _config_from_gguf(info)
    detected = detect_template(info.chat_template) if info.chat_template else None
    if detected is None or request.template is not None:
        return None
    parts.template = detected.template
    parts.params = dict(detected.parameters)
    return detected.name


async def create_model(
    state: DaemonState, request: CreateRequest
) -> AsyncGenerator[Progress, None]:
    """Create (or replace) a model, yielding progress objects."""
    name = ModelName.parse(request.model)
    if not request.from_ and not request.files:
        raise InvalidRequest("neither 'from' or 'files' was specified")
    quantize: str | None = None
    if request.quantize:
        quantize = normalize_quant_type(request.quantize)
        if quantize is None:
            raise InvalidRequest(
                f'unsupported quantization type "{request.quantize}"; choose one of '
                + ", ".join(QUANT_TYPES)
            )
    checkpoint = bool(request.files) and is_checkpoint_files(request.files)
    for adapter_name, digest in request.adapters.items():
        _check_relative(adapter_name)
        await _blob_layer(state, digest, MEDIA_ADAPTER)  # every adapter file is there
    if checkpoint:
        for file_name, digest in request.files.items():
            _check_relative(file_name)
            await _blob_layer(state, digest, MEDIA_MODEL)  # every file is there before we start
    yield {"status": "gathering model components"}
    parts = ModelParts()
    converted = Converted()
    if checkpoint:
        direct = quantize if quantize in OUTPUT_TYPES else None
        async for event in convert_files(
            state, request.files, converted, out_type=direct or "F16", name=name.model
        ):
            yield event
        assert converted.layer is not None
        parts.model = converted.layer
        parts.gguf = await _gguf_of(state, parts.model, "model.gguf")
        detected = _use_gguf(parts, parts.gguf, request)
        if detected is not None:
            yield {"status": f"using autodetected template {detected}"}
    elif request.files:
        ggufs = [n for n in request.files if n.lower().endswith(".gguf")] or list(request.files)
        for file_name in request.files:
            _check_relative(file_name)
        if len(ggufs) > 1:
            # A second GGUF that is a vision projector (mmproj) rides beside the model.
            ggufs = await _split_projectors(state, request.files, ggufs, parts)
        if len(ggufs) != 1:
            raise InvalidRequest(
                f"expected exactly one GGUF model file, got {len(ggufs)}: "
                + ", ".join(sorted(ggufs))
            )
        parts.model = await _blob_layer(state, request.files[ggufs[0]], MEDIA_MODEL)
        parts.gguf = await _gguf_of(state, parts.model, ggufs[0])
        detected = _use_gguf(parts, parts.gguf, request)
        if detected is not None:
            yield {"status": f"using autodetected template {detected}"}
    elif request.from_:
        try:
            base = await asyncio.to_thread(state.store.get, request.from_)
        except ModelNotFound:
            raise ModelNotFound(
                f'base model "{request.from_}" not found, try pulling it first'
            ) from None
        _inherit(parts, base)
    if parts.model is None:
        raise InvalidRequest("the model has no weights: FROM must name a GGUF file or a model")
    if quantize is not None and not (checkpoint and quantize in OUTPUT_TYPES):
        async for event in _quantize(state, parts, quantize, request):
            yield event
        if checkpoint and not converted.existed and converted.layer is not None:
            await asyncio.to_thread(state.store.blobs.remove, converted.layer.digest)
    if is_checkpoint_files(request.adapters):
        info = parts.gguf or await _gguf_of(state, parts.model, parts.model.digest)
        async for item in convert_adapter_files(state, request.adapters, info):
            if isinstance(item, Layer):
                parts.adapters.append(item)
            else:
                yield item
    else:
        for adapter_name, digest in request.adapters.items():
            layer = await _blob_layer(state, digest, MEDIA_ADAPTER)
            await _gguf_of(state, layer, adapter_name)
            parts.adapters.append(layer)
    if request.template is not None:
        parse_template(request.template)  # a bad template fails here, with its line
        parts.template = request.template
    if request.system is not None:
        parts.system = request.system
    if request.parameters:
        parts.params.update(_check_parameters(request.parameters))
    if request.messages is not None:
        parts.messages = [m.to_dict() for m in request.messages]
    parts.licenses += list(request.license)
    async for event in write_model(state, name, parts):
        yield event


async def _text_layer(state: DaemonState, media_type: str, data: bytes) -> tuple[Layer, bool]:
    """Store a small layer; report whether the blob was already there."""

    def write() -> tuple[Layer, bool]:
        existed = state.store.blobs.exists("sha256:" + hashlib.sha256(data).hexdigest())
        digest, size = state.store.blobs.write_bytes(data)
        return Layer(media_type=media_type, digest=digest, size=size), existed

    return await asyncio.to_thread(write)


async def write_model(
    state: DaemonState, name: ModelName, parts: ModelParts
) -> AsyncGenerator[Progress, None]:
    """Turn parts into layers, report each, and write the manifest last."""
    assert parts.model is not None
    layers: list[Layer] = [parts.model, *parts.adapters, *parts.projectors]
    for layer in layers:
        yield {"status": f"using existing layer {layer.digest}"}
    texts: list[tuple[str, bytes]] = []
    if parts.template is not None:
        texts.append((MEDIA_TEMPLATE, parts.template.encode()))
    if parts.system is not None:
        texts.append((MEDIA_SYSTEM, parts.system.encode()))
    for license_text in parts.licenses:
        texts.append((MEDIA_LICENSE, license_text.encode()))
    if parts.params:
        texts.append((MEDIA_PARAMS, json.dumps(parts.params, sort_keys=True).encode()))
    if parts.messages:
        texts.append((MEDIA_MESSAGES, json.dumps(parts.messages).encode()))
    for media_type, data in texts:
        layer, existed = await _text_layer(state, media_type, data)
        verb = "using existing" if existed else "creating new"
        yield {"status": f"{verb} layer {layer.digest}"}
        layers.append(layer)
    config = {
        **parts.config,
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
    }
    yield {"status": "writing manifest"}
    async with state.store_lock:
        await asyncio.to_thread(state.store.save, name, layers, config)
    yield {"status": "success"}
