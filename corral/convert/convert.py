"""Convert a Hugging Face safetensors checkpoint directory to one GGUF file.

The tensor table is planned first from the safetensors headers alone (names,
shapes, output types), then written; tensor data follows one tensor at a time,
read through the memory map in blocks of rows, converted, written, and its pages
released. Peak memory is the largest tensor that must be transformed whole
(Llama's Q/K permutation) plus a fixed block size, however big the embeddings.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from gguf.gguf_writer import WriterState

from corral.convert.models import Architecture, PlannedTensor, find_architecture
from corral.convert.safetensors import Checkpoint, TensorRef, open_checkpoint
from corral.convert.vocab import load_vocab
from corral.errors import ConversionError

__all__ = ["OUTPUT_TYPES", "ConversionResult", "convert_checkpoint", "is_checkpoint"]

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 16 << 20
"""Tensors that need no transform are read, converted and written in blocks of about this."""

OUTPUT_TYPES: dict[str, tuple[gguf.GGMLQuantizationType, gguf.LlamaFileType]] = {
    "F16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
    "BF16": (gguf.GGMLQuantizationType.BF16, gguf.LlamaFileType.MOSTLY_BF16),
    "F32": (gguf.GGMLQuantizationType.F32, gguf.LlamaFileType.ALL_F32),
}

Progress = Callable[[int, int], None]
"""Called with (tensors done, tensors in all) as each tensor is written."""


@dataclass(frozen=True, slots=True)
class ConversionResult:
    architecture: str
    tensors: int
    file_type: str


def is_checkpoint(directory: Path) -> bool:
    """Whether a directory looks like a Hugging Face safetensors checkpoint."""
    return (directory / "config.json").is_file() and any(directory.glob("*.safetensors"))


def _read_config(directory: Path) -> dict[str, Any]:
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConversionError(f"{str(directory)!r} has no config.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConversionError(f"cannot read config.json: {exc}") from None
    if not isinstance(config, dict):
        raise ConversionError("config.json is not a JSON object")
    return config


_KEEP_F32 = {
    gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.POS_EMBD] + ".weight",
    gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.TOKEN_TYPES] + ".weight",
}


def _output_type(planned: PlannedTensor, wanted: gguf.GGMLQuantizationType) -> Any:
    # Norms, biases, vectors and the tensors llama.cpp adds to F32 activations stay F32,
    # as llama.cpp's own converter keeps them.
    if planned.keep_f32 or len(planned.shape) < 2 or planned.name in _KEEP_F32:
        return gguf.GGMLQuantizationType.F32
    return wanted


def _encode(array: np.ndarray[Any, Any], kind: gguf.GGMLQuantizationType) -> Any:
    if kind == gguf.GGMLQuantizationType.F32:
        return np.ascontiguousarray(array, dtype=np.float32)
    if kind == gguf.GGMLQuantizationType.F16:
        return np.ascontiguousarray(array, dtype=np.float16)
    return gguf.quants.quantize(np.ascontiguousarray(array, dtype=np.float32), kind)


def _nbytes(shape: tuple[int, ...], kind: gguf.GGMLQuantizationType) -> int:
    block, size = gguf.GGML_QUANT_SIZES[kind]
    return math.prod(shape) // block * size


def _plan(arch: Architecture, checkpoint: Checkpoint) -> list[PlannedTensor]:
    planned: list[PlannedTensor] = []
    for ref in checkpoint:
        if arch.skip(ref.name):
            continue
        name = arch.gguf_name(ref.name)

        def chunks(source: TensorRef = ref) -> Iterator[np.ndarray[Any, Any]]:
            try:
                if arch.transforms(source.name) or len(source.shape) < 2:
                    yield arch.transform(source.name, checkpoint.read_float(source.name))
                    return
                rows = source.shape[0]
                step = max(1, _CHUNK_BYTES // max(1, source.nbytes // max(rows, 1)))
                for start in range(0, rows, step):
                    yield checkpoint.read_float(source.name, (start, start + step))
                    checkpoint.release(source.name)
            finally:
                checkpoint.release(source.name)

        planned.append(PlannedTensor(name, ref.shape, chunks))
    planned.extend(arch.extra_tensors())
    if not planned:
        raise ConversionError("the checkpoint holds no tensors to convert")
    return planned


def _write_tensor(
    writer: gguf.GGUFWriter, chunks: Iterator[np.ndarray[Any, Any]], nbytes: int
) -> None:
    """GGUFWriter.write_tensor_data for data that arrives in blocks, so no whole copy exists."""
    assert writer.fout is not None
    fout = writer.fout[0]  # one output file: the writer is never asked to split
    tensors = writer.tensors[0]
    info = tensors.pop(next(iter(tensors)))
    if info.nbytes != nbytes:
        raise ConversionError(f"tensor size {nbytes} differs from its planned {info.nbytes}")
    writer.write_padding(fout, fout.tell())
    written = 0
    for chunk in chunks:
        chunk.tofile(fout)
        written += chunk.nbytes
    if written != nbytes:
        raise ConversionError(f"wrote {written} bytes of a {nbytes}-byte tensor")
    writer.write_padding(fout, nbytes)
    writer.state = WriterState.WEIGHTS


def convert_checkpoint(
    directory: Path,
    output: Path,
    *,
    out_type: str = "F16",
    name: str | None = None,
    progress: Progress | None = None,
) -> ConversionResult:
    """Write `directory`'s checkpoint as a GGUF file at `output`.

    Raises:
        ConversionError: unsupported architecture, tokenizer or output type, or
            a malformed checkpoint. Nothing is left at `output` on failure.
    """
    kind = OUTPUT_TYPES.get(out_type.upper())
    if kind is None:
        raise ConversionError(
            f"cannot convert to {out_type!r}; choose one of {', '.join(OUTPUT_TYPES)}"
        )
    tensor_type, file_type = kind
    config = _read_config(directory)
    pooling = directory / "1_Pooling" / "config.json"
    if pooling.is_file():
        try:
            config["_pooling"] = json.loads(pooling.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConversionError(f"cannot read 1_Pooling/config.json: {exc}") from None
    arch = find_architecture(config)
    vocab = load_vocab(directory, config)
    checkpoint = open_checkpoint(directory)
    try:
        planned = _plan(arch, checkpoint)
        writer = gguf.GGUFWriter(output, arch.arch_name)
        try:
            writer.add_name(name or directory.name)
            writer.add_file_type(int(file_type))
            arch.write_hparams(writer)
            vocab.write(writer, directory)
            types = [_output_type(p, tensor_type) for p in planned]
            for planned_tensor, out in zip(planned, types, strict=True):
                dtype: type[np.generic] = (
                    np.float32 if out == gguf.GGMLQuantizationType.F32 else np.float16
                )
                if out == gguf.GGMLQuantizationType.BF16:
                    dtype = np.uint8
                    shape: tuple[int, ...] = (
                        *planned_tensor.shape[:-1],
                        planned_tensor.shape[-1] * 2,
                    )
                else:
                    shape = planned_tensor.shape
                writer.add_tensor_info(
                    planned_tensor.name,
                    shape,
                    np.dtype(dtype),
                    _nbytes(planned_tensor.shape, out),
                    raw_dtype=out if out == gguf.GGMLQuantizationType.BF16 else None,
                )
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            for index, (planned_tensor, out) in enumerate(zip(planned, types, strict=True)):
                encoded = (_encode(chunk, out) for chunk in planned_tensor.chunks())
                _write_tensor(writer, encoded, _nbytes(planned_tensor.shape, out))
                if progress is not None:
                    progress(index + 1, len(planned))
        finally:
            writer.close()
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    finally:
        checkpoint.close()
    return ConversionResult(arch.arch_name, len(planned), out_type.upper())
