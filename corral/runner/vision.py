"""Images for models with a vision projector, through llama.cpp's multimodal library (mtmd).

The daemon renders a prompt in which each image stands as Ollama's `[img-N]` marker and
sends the pictures' bytes beside it. Here the markers become mtmd's media marker, the
pictures become bitmaps, `mtmd_tokenize` splits the prompt into text and image chunks,
and `mtmd_helper_eval_chunks` evaluates them into one sequence of the shared context.
Like everything else in the runner, these functions run on the engine's worker thread.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_cpp import mtmd_cpp as mtmd

from corral.errors import InvalidRequest, RunnerError

from .model import LoadedModel, LoadError, LogCapture, log_reason

__all__ = ["Projector", "VisionPrompt", "image_order", "load_projector"]

_MARKER = re.compile(r"\[img-(\d+)\]")


def image_order(prompt: str, n_images: int) -> tuple[str, list[int]]:
    """Replace `[img-N]` markers by mtmd's media marker; the image index of each, in order.

    Images no marker names are left out, as Ollama's runner leaves them.

    Raises:
        InvalidRequest: a marker names an image the request does not carry.
    """
    marker = str(mtmd.mtmd_default_marker().decode("utf-8"))
    order: list[int] = []

    def swap(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= n_images:
            raise InvalidRequest(
                f"the prompt refers to image [img-{index}], but the request has "
                f"{n_images} image{'s' if n_images != 1 else ''}"
            )
        order.append(index)
        return marker

    return _MARKER.sub(swap, prompt), order


@dataclass(eq=False)
class VisionPrompt:
    """A prompt tokenized into text and image chunks; `free()` releases them."""

    chunks: Any
    n_pos: int
    """Positions the chunks take in the sequence (the KV cache length after evaluation)."""
    n_tokens: int

    def free(self) -> None:
        if self.chunks:
            mtmd.mtmd_input_chunks_free(self.chunks)
            self.chunks = None


class Projector:
    """An mtmd context over the loaded text model."""

    def __init__(self, ctx: Any, path: Path) -> None:
        self.ctx = ctx
        self.path = path

    def tokenize(self, prompt: str, images: Sequence[bytes], *, add_bos: bool) -> VisionPrompt:
        """Split `prompt` (with `[img-N]` markers) and `images` into chunks.

        `add_bos` lets mtmd add the model's BOS (when the model wants one).

        Raises:
            InvalidRequest: a picture cannot be decoded, or a marker names no image.
        """
        text, order = image_order(prompt, len(images))
        bitmaps: list[Any] = []
        chunks = None
        try:
            for index in order:
                data = images[index]
                buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
                bitmap = mtmd.mtmd_helper_bitmap_init_from_buf(self.ctx, buf, len(data), False)
                if not bitmap:
                    raise InvalidRequest(f"image {index} could not be decoded as a picture")
                bitmaps.append(bitmap)
            raw = text.encode("utf-8")
            inp = mtmd.mtmd_input_text(text=raw, text_len=len(raw), add_special=add_bos)
            inp.parse_special = True
            chunks = mtmd.mtmd_input_chunks_init()
            if not chunks:
                raise RunnerError("mtmd could not allocate input chunks")
            array = (mtmd.mtmd_bitmap_p_ctypes * max(1, len(bitmaps)))(*bitmaps)
            status = mtmd.mtmd_tokenize(self.ctx, chunks, ctypes.pointer(inp), array, len(bitmaps))
            if status != 0:
                raise InvalidRequest(
                    f"the prompt and its {len(bitmaps)} images could not be tokenized "
                    f"(mtmd_tokenize returned {status})"
                )
            result = VisionPrompt(
                chunks=chunks,
                n_pos=int(mtmd.mtmd_helper_get_n_pos(chunks)),
                n_tokens=int(mtmd.mtmd_helper_get_n_tokens(chunks)),
            )
            chunks = None
            return result
        finally:
            if chunks:
                mtmd.mtmd_input_chunks_free(chunks)
            for bitmap in bitmaps:
                mtmd.mtmd_bitmap_free(bitmap)

    def evaluate(self, model: LoadedModel, prompt: VisionPrompt, seq_id: int) -> int:
        """Evaluate every chunk into `seq_id` from position 0; returns the new length.

        The last token's logits are left for sampling (output index -1).

        Raises:
            RunnerError: llama.cpp failed to encode an image or decode a chunk.
        """
        new_n_past = ctypes.c_int32(0)
        status = mtmd.mtmd_helper_eval_chunks(
            self.ctx,
            model.ctx,
            prompt.chunks,
            0,
            seq_id,
            model.n_batch,
            True,
            ctypes.pointer(new_n_past),
        )
        if status != 0:
            raise RunnerError(f"evaluating the image prompt failed (mtmd returned {status})")
        return int(new_n_past.value)

    def free(self) -> None:
        if self.ctx:
            mtmd.mtmd_free(self.ctx)
            self.ctx = None


def load_projector(model: LoadedModel, path: Path, log: LogCapture) -> Projector:
    """Open the vision projector (mmproj GGUF) for the loaded model.

    Raises:
        LoadError: the file is missing, or llama.cpp cannot use it as a projector here.
    """
    if not path.is_file():
        raise LoadError(f"vision projector {path}: no such file")
    mtmd.mtmd_log_set(log.callback, ctypes.c_void_p(0))
    log.clear()
    params = mtmd.mtmd_context_params_default()
    params.use_gpu = model.config.gpu_layers != 0
    params.print_timings = False
    params.n_threads = model.n_threads
    params.warmup = False
    ctx = mtmd.mtmd_init_from_file(str(path).encode("utf-8"), model.model, params)
    if not ctx:
        reason = log_reason(log, "not a vision projector (mmproj) llama.cpp can load")
        raise LoadError(f"vision projector {path}: {reason}")
    if not mtmd.mtmd_support_vision(ctx):
        mtmd.mtmd_free(ctx)
        raise LoadError(f"vision projector {path}: the projector has no vision encoder")
    return Projector(ctx, path)
