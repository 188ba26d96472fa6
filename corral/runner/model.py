"""The llama.cpp handles of one runner: model and context loading, tokens, sampler chains.

Every function here must be called from the engine's single worker thread, except
`LogCapture`'s callback, which llama.cpp may call from any thread.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import llama_cpp as ll

from corral.errors import InvalidRequest

from .config import RunnerConfig, default_threads
from .params import CompletionRequest
from .sampling import Stage, sampler_stages

__all__ = ["LoadError", "LoadedModel", "LogCapture", "ModelInfo", "load_model", "log_reason"]

logger = logging.getLogger(__name__)

_LOG_ERROR = 4  # ggml_log_level: NONE, DEBUG, INFO, WARN, ERROR, CONT
_LOG_CONT = 5


class LoadError(Exception):
    """The model or its context could not be loaded; the message is the reason shown to users."""


class LogCapture:
    """Receives llama.cpp's log: kept quiet unless verbose, with recent error lines remembered."""

    def __init__(self, *, verbose: bool) -> None:
        self.verbose = verbose
        self._lock = threading.Lock()
        self._partial = ""
        self._level = 0
        self._errors: deque[str] = deque(maxlen=20)
        # Keep a reference: llama.cpp holds only the raw function pointer.
        self.callback = ll.llama_log_callback(self._on_log)

    def install(self) -> None:
        """Route llama.cpp's (and ggml's) log through this object."""
        ll.llama_log_set(self.callback, ctypes.c_void_p(0))

    def errors(self) -> list[str]:
        """Error lines logged since the last `clear()`, oldest first."""
        with self._lock:
            return list(self._errors)

    def clear(self) -> None:
        with self._lock:
            self._errors.clear()

    def _on_log(self, level: int, text: bytes | None, _user: Any) -> None:
        try:
            chunk = text.decode("utf-8", "replace") if text else ""
            if self.verbose:
                sys.stderr.write(chunk)
                sys.stderr.flush()
            with self._lock:
                if level != _LOG_CONT:
                    self._level = level
                self._partial += chunk
                while "\n" in self._partial:
                    line, _, self._partial = self._partial.partition("\n")
                    if self._level == _LOG_ERROR and line.strip():
                        self._errors.append(line.strip())
        except Exception:  # an exception must never cross back into C
            pass


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What `/health` reports once the model is ready."""

    n_ctx: int
    """Context length of each sequence."""
    n_ctx_train: int
    n_vocab: int
    n_parallel: int
    n_embd: int


class LoadedModel:
    """A loaded llama model with one context of `n_parallel` sequences."""

    def __init__(self, model: Any, ctx: Any, loras: list[Any], config: RunnerConfig) -> None:
        self.model = model
        self.ctx = ctx
        self.loras = loras
        self.vocab = ll.llama_model_get_vocab(model)
        self.memory = ll.llama_get_memory(ctx)
        self.config = config
        n_vocab = int(ll.llama_vocab_n_tokens(self.vocab))
        self.info = ModelInfo(
            n_ctx=int(ll.llama_n_ctx_seq(ctx)),
            n_ctx_train=int(ll.llama_model_n_ctx_train(model)),
            n_vocab=n_vocab,
            n_parallel=int(ll.llama_n_seq_max(ctx)),
            n_embd=int(ll.llama_model_n_embd(model)),
        )
        self.n_batch = int(ll.llama_n_batch(ctx))
        self.bos = int(ll.llama_vocab_bos(self.vocab))
        self.add_bos = bool(ll.llama_vocab_get_add_bos(self.vocab))
        self.can_shift = bool(ll.llama_memory_can_shift(self.memory))
        """Whether the KV cache can slide positions (a context shift)."""
        self.n_threads = config.threads or default_threads()
        self._piece_buf = ctypes.create_string_buffer(256)

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        """Tokenize `text`; `parse_special` reads `<|im_start|>` and the like as special tokens."""
        data = text.encode("utf-8", "replace")
        cap = len(data) + 8
        arr = (ll.llama_token * cap)()
        n = ll.llama_tokenize(self.vocab, data, len(data), arr, cap, add_special, parse_special)
        if n < 0:
            cap = -n
            arr = (ll.llama_token * cap)()
            n = ll.llama_tokenize(self.vocab, data, len(data), arr, cap, add_special, parse_special)
        if n < 0:
            raise InvalidRequest(f"the text of {len(data)} bytes could not be tokenized")
        return list(arr[:n])

    def check_tokens(self, tokens: Sequence[int]) -> None:
        """Raise InvalidRequest for a token id outside the vocabulary."""
        n_vocab = self.info.n_vocab
        for t in tokens:
            if not 0 <= t < n_vocab:
                raise InvalidRequest(f"token {t} is not in the vocabulary (0 to {n_vocab - 1})")

    def detokenize(self, tokens: Sequence[int]) -> str:
        """Turn token ids back into text, special tokens rendered."""
        self.check_tokens(tokens)
        if not tokens:
            return ""
        arr = (ll.llama_token * len(tokens))(*tokens)
        cap = max(64, len(tokens) * 8)
        for _ in range(2):
            buf = ctypes.create_string_buffer(cap)
            n = ll.llama_detokenize(self.vocab, arr, len(tokens), buf, cap, False, True)
            if n >= 0:
                return buf.raw[:n].decode("utf-8", "replace")
            cap = -n
        raise InvalidRequest(f"{len(tokens)} tokens could not be turned back into text")

    def piece(self, token: int) -> bytes:
        """The bytes of one generated token (special tokens render as nothing)."""
        n = ll.llama_token_to_piece(self.vocab, token, self._piece_buf, 256, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = ll.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
            return buf.raw[:n]
        return self._piece_buf.raw[:n]

    def is_eog(self, token: int) -> bool:
        return bool(ll.llama_vocab_is_eog(self.vocab, token))

    def prompt_tokens(self, prompt: str, add_bos: bool | None) -> list[int]:
        """Tokenize a rendered prompt the way generation needs it (BOS per model or request)."""
        tokens = self.tokenize(prompt, add_special=add_bos is not False, parse_special=True)
        if add_bos and self.bos >= 0 and (not tokens or tokens[0] != self.bos):
            tokens.insert(0, self.bos)
        # A template that writes BOS itself plus the model adding one gives two; keep one.
        if self.bos >= 0 and len(tokens) >= 2 and tokens[0] == tokens[1] == self.bos:
            del tokens[0]
        return tokens

    def make_sampler(self, req: CompletionRequest, prompt: Sequence[int]) -> Any:
        """Build the native sampler chain for one request; the caller frees it.

        Raises:
            InvalidRequest: the grammar does not parse.
        """
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        for stage in sampler_stages(req, self.info.n_ctx):
            sampler = self._sampler(stage)
            if not sampler:
                ll.llama_sampler_free(chain)
                raise InvalidRequest('field "grammar" is not a valid GBNF grammar with a root rule')
            ll.llama_sampler_chain_add(chain, sampler)
            if stage.kind == "penalties":
                # As llama-server does: the prompt's tail counts towards repetition.
                for token in prompt[-int(stage.args[0]) :]:
                    ll.llama_sampler_accept(sampler, token)
        return chain

    def _sampler(self, stage: Stage) -> Any:
        a = stage.args
        match stage.kind:
            case "grammar":
                return ll.llama_sampler_init_grammar(
                    self.vocab, str(a[0]).encode("utf-8"), str(a[1]).encode("utf-8")
                )
            case "penalties":
                return ll.llama_sampler_init_penalties(self.info.n_vocab, *a)
            case "greedy":
                return ll.llama_sampler_init_greedy()
            case "top_k":
                return ll.llama_sampler_init_top_k(*a)
            case "typical":
                return ll.llama_sampler_init_typical(*a)
            case "top_p":
                return ll.llama_sampler_init_top_p(*a)
            case "min_p":
                return ll.llama_sampler_init_min_p(*a)
            case "temp":
                return ll.llama_sampler_init_temp(*a)
            case "dist":
                return ll.llama_sampler_init_dist(*a)
        raise ValueError(f"unknown sampler stage {stage.kind!r}")

    def free(self) -> None:
        """Release the context, adapters and model."""
        if self.ctx:
            ll.llama_free(self.ctx)
            self.ctx = None
        for lora in self.loras:
            ll.llama_adapter_lora_free(lora)
        self.loras = []
        if self.model:
            ll.llama_model_free(self.model)
            self.model = None


def log_reason(log: LogCapture, fallback: str) -> str:
    """The most telling llama.cpp error line, without its `function_name: ` prefixes.

    `llama_model_load: error loading model: unknown model architecture: 'x'` gives
    `unknown model architecture: 'x'`; lines that say nothing beyond "failed" are skipped.
    """
    for line in log.errors():
        text = line
        while True:
            head, sep, rest = text.partition(": ")
            if sep and (" " not in head or head.lower() == "error loading model"):
                text = rest
            else:
                break
        if (
            text
            and "failed to load model" not in text
            and "error loading model" not in text.lower()
        ):
            return text
    return fallback


def load_model(
    config: RunnerConfig,
    log: LogCapture,
    *,
    on_progress: Callable[[float], bool],
) -> LoadedModel:
    """Load the GGUF, its LoRA adapters and a context; `on_progress` returns False to abort.

    Raises:
        LoadError: with a one-line reason.
    """
    path = config.model
    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    ll.llama_backend_init()
    log.clear()

    mparams = ll.llama_model_default_params()
    mparams.n_gpu_layers = config.gpu_layers
    if config.no_mmap:
        mparams.load_mode = ll.LLAMA_LOAD_MODE_NONE
    if _cpu_has_amx():
        # ggml's AMX weight repacking segfaults in llama_decode on some AMX hosts
        # (seen with llama-cpp-python 0.3.36 in Firecracker VMs); plain CPU buffers are safe.
        mparams.use_extra_bufts = False
    progress_cb = ll.llama_progress_callback(
        lambda progress, _user: bool(on_progress(float(progress)))
    )
    mparams.progress_callback = progress_cb
    model = ll.llama_model_load_from_file(str(path).encode("utf-8"), mparams)
    if not model:
        raise LoadError(f"{path}: {log_reason(log, 'llama.cpp could not read it as a GGUF model')}")

    loras: list[Any] = []
    try:
        for lora_path in config.lora:
            adapter = ll.llama_adapter_lora_init(model, str(lora_path).encode("utf-8"))
            if not adapter:
                reason = log_reason(log, "not a LoRA adapter for this model")
                raise LoadError(f"LoRA adapter {lora_path}: {reason}")
            loras.append(adapter)
        ctx = ll.llama_init_from_model(model, _context_params(config))
        if not ctx:
            n_ctx = config.ctx_size * config.parallel
            reason = log_reason(log, "out of memory?")
            raise LoadError(f"could not create a context of {n_ctx} tokens: {reason}")
    except LoadError:
        for adapter in loras:
            ll.llama_adapter_lora_free(adapter)
        ll.llama_model_free(model)
        raise
    if loras:
        arr = (ll.llama_adapter_lora_p_ctypes * len(loras))(*loras)
        scales = (ctypes.c_float * len(loras))(*([1.0] * len(loras)))
        if ll.llama_set_adapters_lora(ctx, arr, len(loras), scales) != 0:
            raise LoadError("the LoRA adapters could not be applied to the context")
    return LoadedModel(model, ctx, loras, config)


def _cpu_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return "amx_tile" in line.split()
    except OSError:
        pass
    return False


_POOLING = {
    "none": ll.LLAMA_POOLING_TYPE_NONE,
    "mean": ll.LLAMA_POOLING_TYPE_MEAN,
    "cls": ll.LLAMA_POOLING_TYPE_CLS,
    "last": ll.LLAMA_POOLING_TYPE_LAST,
    "rank": ll.LLAMA_POOLING_TYPE_RANK,
}


def _context_params(config: RunnerConfig) -> Any:
    cparams = ll.llama_context_default_params()
    if config.embedding:
        # Non-causal encoders need a whole input in one micro-batch.
        cparams.n_ctx = config.ctx_size
        cparams.n_batch = cparams.n_ubatch = config.ctx_size
        cparams.n_seq_max = 1
        cparams.embeddings = True
        if config.pooling:
            cparams.pooling_type = _POOLING[config.pooling]
        # Pooled embeddings read every token's output; this llama.cpp defaults the cap to 1.
        cparams.n_outputs_max_per_seq = 0
    else:
        cparams.n_ctx = config.ctx_size * config.parallel
        cparams.n_batch = config.batch_size
        cparams.n_ubatch = min(config.batch_size, 512)
        cparams.n_seq_max = config.parallel
        cparams.kv_unified = False
    # Both pools, like llama-server: generation uses n_threads, prompts n_threads_batch.
    cparams.n_threads = cparams.n_threads_batch = config.threads or default_threads()
    return cparams
