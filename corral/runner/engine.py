"""The runner's engine: one worker thread that owns llama.cpp and batches every sequence.

All llama.cpp calls happen on that thread. Requests arrive through a thread-safe
command queue; each decode step puts the next token of every generating sequence and
chunks of waiting prompts into one `llama_decode` batch (continuous batching), then
samples each sequence with its native sampler chain. Events go back through each
request's sink, all of a step's at once just before the next `llama_decode` (or before
the worker sleeps): the event loop thread then wakes while the worker has released the
GIL for the decode, instead of taking it from the worker between the step's many short
llama.cpp calls. A slot keeps its KV cache after a request, so the next prompt that
shares a prefix only evaluates the new tail.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import llama_cpp as ll

from corral.errors import CorralError, InvalidRequest, RunnerError

from .config import RunnerConfig
from .events import Done, Event, Failed, Piece, Sink, Started
from .logprobs import token_logprobs
from .model import LoadedModel, LoadError, LogCapture, ModelInfo, load_model
from .params import CompletionRequest, DetokenizeRequest, EmbeddingRequest, TokenizeRequest
from .shift import keep_count, shift_discard, truncate_prompt
from .slots import Slot, pick_slot, reusable_prefix
from .text import PieceAssembler, StopMatcher
from .vision import Projector, VisionPrompt, load_projector

__all__ = ["Engine", "Job"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(eq=False)
class Job:
    """One completion request inside the engine; `cancel()` is safe from any thread."""

    request: CompletionRequest
    sink: Sink
    cancelled: bool = False
    tokens: list[int] = field(default_factory=list)
    sampler: Any = None
    slot: Slot | None = None
    pending: int | None = None
    """A sampled token not yet decoded; None while the prompt is still being read."""
    keep: int = 0
    """Leading tokens a context shift keeps (from `num_keep`)."""
    n_prompt_eval: int = 0
    n_decoded: int = 0
    t_start: int = 0
    t_first: int = 0
    assembler: PieceAssembler = field(default_factory=PieceAssembler)
    stopper: StopMatcher = field(default_factory=lambda: StopMatcher(()))
    logprobs: list[dict[str, Any]] = field(default_factory=list)
    """Logprob entries of tokens whose text has not been sent yet."""
    vision: VisionPrompt | None = None
    """The text and image chunks of a prompt with images (evaluated by mtmd, not batched)."""

    def cancel(self) -> None:
        """Stop generating at the next token and free the slot (the client went away)."""
        self.cancelled = True


def _slot_order(job: Job) -> int:
    return job.slot.seq_id if job.slot is not None else -1


@dataclass(eq=False, slots=True)
class _Call:
    fn: Callable[[], Any]
    future: concurrent.futures.Future[Any]


class Engine:
    """Loads the model on its worker thread and serves completions, tokens and embeddings."""

    def __init__(self, config: RunnerConfig) -> None:
        self.config = config
        self.state = "loading"
        """"loading", "ok", "failed" or "stopped"."""
        self.progress = 0.0
        self.info: ModelInfo | None = None
        self.graphs_reused = 0
        """Decodes that reused llama.cpp's last compute graph (as of the last finished request)."""
        self._log = LogCapture(verbose=config.verbose)
        self._commands: queue.Queue[Job | _Call | None] = queue.Queue()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._model: LoadedModel | None = None
        self._projector: Projector | None = None
        self._slots: list[Slot] = []
        self._waiting: deque[Job] = deque()
        self._active: list[Job] = []
        self._use_counter = 0
        self._batch: Any = None
        self._outbox: list[tuple[Sink, Event]] = []

    # -- called from the event loop thread -------------------------------------------------

    def start(self, *, on_ready: Callable[[], None], on_failed: Callable[[str], None]) -> None:
        """Start the worker thread; it loads the model, then calls one of the callbacks."""
        self._log.install()
        self._thread = threading.Thread(
            target=self._run, args=(on_ready, on_failed), name="llama-worker", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Fail what is in flight, free llama.cpp and end the worker thread."""
        self._stopping = True
        self._commands.put(None)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def submit(self, request: CompletionRequest, sink: Sink) -> Job:
        """Queue a completion; its events go to `sink`, called on the worker thread."""
        job = Job(request=request, sink=sink)
        self._commands.put(job)
        return job

    def tokenize(self, req: TokenizeRequest) -> concurrent.futures.Future[list[int]]:
        return self._call(
            lambda: self._loaded().tokenize(
                req.content, add_special=req.add_special, parse_special=req.parse_special
            )
        )

    def detokenize(self, req: DetokenizeRequest) -> concurrent.futures.Future[str]:
        return self._call(lambda: self._loaded().detokenize(req.tokens))

    def embed(
        self, req: EmbeddingRequest
    ) -> concurrent.futures.Future[tuple[list[list[float]], int]]:
        return self._call(lambda: self._embed(req.content, truncate=req.truncate))

    def _call(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._commands.put(_Call(fn, future))
        return future

    # -- the worker thread --------------------------------------------------------------------

    def _loaded(self) -> LoadedModel:
        if self._model is None:
            raise RunnerError("the model is not loaded")
        return self._model

    def _run(self, on_ready: Callable[[], None], on_failed: Callable[[str], None]) -> None:
        try:
            self._model = load_model(self.config, self._log, on_progress=self._on_progress)
            if self.config.mmproj is not None:
                self._projector = self._load_projector(self._model, self.config.mmproj)
        except LoadError as exc:
            self.state = "failed"
            on_failed(str(exc))
            return
        except Exception as exc:
            logger.exception("loading failed")
            self.state = "failed"
            on_failed(f"{self.config.model}: {exc}")
            return
        model = self._model
        self.info = model.info
        self._slots = [Slot(seq_id=i) for i in range(model.info.n_parallel)]
        self._batch = ll.llama_batch_init(model.n_batch, 0, 1)
        logger.info(
            "model ready n_ctx=%d n_parallel=%d n_vocab=%d",
            model.info.n_ctx,
            model.info.n_parallel,
            model.info.n_vocab,
        )
        self.state = "ok"
        on_ready()
        try:
            self._loop()
        except Exception:
            logger.exception("the generation loop crashed")
            self.state = "failed"
            on_failed("the generation loop crashed; see the log above")
        finally:
            self._shutdown()

    def _load_projector(self, model: LoadedModel, path: Path) -> Projector:
        try:
            return load_projector(model, path, self._log)
        except BaseException:
            model.free()
            self._model = None
            raise

    def _on_progress(self, value: float) -> bool:
        self.progress = value
        return not self._stopping

    def _loop(self) -> None:
        while True:
            idle = not self._active and not self._waiting
            if idle:
                self._deliver()  # nothing to decode: send what is ready, then sleep
            self._drain(block=idle)
            if self._stopping:
                break
            self._admit()
            if self._active:
                self._step()
            else:
                self._deliver()

    def _emit(self, job: Job, event: Event) -> None:
        """Queue an event for `job`'s sink; `_deliver` sends it."""
        self._outbox.append((job.sink, event))

    def _deliver(self) -> None:
        """Call the sinks with every queued event, in order."""
        outbox, self._outbox = self._outbox, []
        for sink, event in outbox:
            sink(event)

    def _drain(self, *, block: bool) -> None:
        try:
            command = self._commands.get(block=block)
            while True:
                self._handle(command)
                command = self._commands.get_nowait()
        except queue.Empty:
            return

    def _handle(self, command: Job | _Call | None) -> None:
        if command is None:
            return
        if isinstance(command, _Call):
            if command.future.set_running_or_notify_cancel():
                try:
                    command.future.set_result(command.fn())
                except Exception as exc:
                    command.future.set_exception(exc)
            return
        self._accept(command)

    def _accept(self, job: Job) -> None:
        """Tokenize and check a new request, then queue it for a slot."""
        if job.cancelled:
            return
        model = self._loaded()
        req = job.request
        try:
            if req.images:
                self._accept_images(job)
                return
            tokens = model.prompt_tokens(req.prompt, req.add_bos)
            n_ctx = model.info.n_ctx
            if not tokens:
                raise InvalidRequest("the prompt is empty")
            job.keep = keep_count(req.num_keep, len(tokens), n_ctx, add_bos=model.add_bos)
            if len(tokens) > n_ctx:
                if not req.truncate:
                    raise InvalidRequest(
                        f"the prompt ({len(tokens)} tokens) is longer than the context "
                        f"({n_ctx} tokens)"
                    )
                logger.warning(
                    "truncating prompt=%d limit=%d keep=%d", len(tokens), n_ctx, job.keep
                )
                tokens = truncate_prompt(tokens, job.keep, n_ctx)
            job.tokens = tokens
            job.sampler = model.make_sampler(req, tokens)
        except CorralError as exc:
            self._free_sampler(job)
            self._emit(job, Failed(exc))
            return
        job.stopper = StopMatcher(req.stop)
        self._emit(job, Started(prompt_tokens=len(job.tokens)))
        self._waiting.append(job)

    def _accept_images(self, job: Job) -> None:
        """Tokenize a prompt with images through mtmd; it is evaluated when it gets a slot."""
        model = self._loaded()
        if self._projector is None:
            raise InvalidRequest("this runner was not started with --mmproj; it cannot read images")
        req = job.request
        # A template that writes BOS itself must not get a second one from mtmd.
        head = model.tokenize(req.prompt[:32], add_special=False, parse_special=True)
        add_bos = req.add_bos is not False and not (head and head[0] == model.bos)
        vision = self._projector.tokenize(req.prompt, req.images, add_bos=add_bos)
        job.vision = vision
        if vision.n_pos >= model.info.n_ctx:
            raise InvalidRequest(
                f"the prompt with its images ({vision.n_pos} positions) is longer than the "
                f"context ({model.info.n_ctx} tokens)"
            )
        job.sampler = model.make_sampler(req, [])
        job.stopper = StopMatcher(req.stop)
        self._emit(job, Started(prompt_tokens=vision.n_tokens))
        self._waiting.append(job)

    def _evaluate_images(self, job: Job, slot: Slot) -> None:
        """Read a prompt with images into a cleared sequence and sample its first token.

        Its cache entries are placeholders (-1), so no later prompt reuses them: the next
        request on this slot starts the sequence over.
        """
        model = self._loaded()
        assert self._projector is not None and job.vision is not None
        self._deliver()  # before the long evaluation
        ll.llama_memory_seq_rm(model.memory, slot.seq_id, -1, -1)
        slot.cache.clear()
        try:
            n_past = self._projector.evaluate(model, job.vision, slot.seq_id)
        except CorralError as exc:
            ll.llama_memory_seq_rm(model.memory, slot.seq_id, -1, -1)
            self._emit(job, Failed(exc))
            self._release(job)
            return
        slot.cache.extend([-1] * n_past)
        job.n_prompt_eval = job.vision.n_tokens
        job.t_first = time.perf_counter_ns()
        token = int(ll.llama_sampler_sample(job.sampler, model.ctx, -1))
        if job.request.logprobs:
            top = job.request.top_logprobs
            entry = token_logprobs(model.ctx, -1, model.info.n_vocab, token, top, model.piece)
            job.logprobs.append(entry)
        self._on_token(job, token)

    def _admit(self) -> None:
        """Give waiting requests free slots, keeping the KV cache's shared prefix."""
        model = self._loaded()
        while self._waiting:
            job = self._waiting[0]
            if job.cancelled:
                self._waiting.popleft()
                self._free_sampler(job)
                continue
            slot = pick_slot(self._slots, job.tokens)
            if slot is None:
                return
            self._waiting.popleft()
            keep = reusable_prefix(slot.cache, job.tokens)
            if not ll.llama_memory_seq_rm(model.memory, slot.seq_id, keep, -1):
                # Some memories (recurrent) cannot drop a tail; start the sequence over.
                ll.llama_memory_seq_rm(model.memory, slot.seq_id, -1, -1)
                keep = 0
            del slot.cache[keep:]
            self._use_counter += 1
            slot.last_used = self._use_counter
            slot.job = job
            job.slot = slot
            job.n_prompt_eval = len(job.tokens) - keep
            job.t_start = time.perf_counter_ns()
            # Batches list sequences in slot order, as llama-server's do: a batch laid out
            # like the last one lets llama.cpp reuse its compute graph instead of building
            # a new one for every step.
            self._active.append(job)
            self._active.sort(key=_slot_order)
            if job.vision is not None:
                self._evaluate_images(job, slot)
                continue
            logger.debug("slot=%d prompt=%d reused=%d", slot.seq_id, len(job.tokens), keep)

    def _step(self) -> None:
        """One decode: the next token of each generating sequence plus prompt chunks."""
        model = self._loaded()
        batch = self._batch
        batch.n_tokens = 0
        entries: list[tuple[Job, int, int]] = []  # job, tokens added, output index
        for job in list(self._active):
            if job.cancelled:
                self._release(job)
            elif job.pending is not None and job.slot and len(job.slot.cache) >= model.info.n_ctx:
                self._make_room(job)
        for job in self._active:
            if job.pending is not None and batch.n_tokens < model.n_batch:
                slot = job.slot
                assert slot is not None
                i = self._add(job.pending, len(slot.cache), slot.seq_id, True)
                entries.append((job, 1, i))
        for job in self._active:
            room = model.n_batch - batch.n_tokens
            if job.pending is not None or room <= 0:
                continue
            slot = job.slot
            assert slot is not None
            start = len(slot.cache)
            n = min(room, len(job.tokens) - start)
            end = start + n
            i = -1
            for pos in range(start, end):
                i = self._add(job.tokens[pos], pos, slot.seq_id, pos == len(job.tokens) - 1)
            entries.append((job, n, i))
        self._deliver()  # the decode releases the GIL: the event loop can take it now
        if not entries:
            return
        status = ll.llama_decode(model.ctx, batch)
        if status != 0:
            self._decode_failed(status, [job for job, _, _ in entries])
            return
        for job, n, i in entries:
            slot = job.slot
            assert slot is not None
            if job.pending is None:
                slot.cache.extend(job.tokens[len(slot.cache) : len(slot.cache) + n])
                if len(slot.cache) < len(job.tokens):
                    continue
                job.t_first = time.perf_counter_ns()
            else:
                slot.cache.append(job.pending)
                job.pending = None
            token = int(ll.llama_sampler_sample(job.sampler, model.ctx, i))
            if job.request.logprobs:
                top = job.request.top_logprobs
                entry = token_logprobs(model.ctx, i, model.info.n_vocab, token, top, model.piece)
                job.logprobs.append(entry)
            self._on_token(job, token)

    def _make_room(self, job: Job) -> None:
        """The context is full: shift it as Ollama does, or end with "length"."""
        model = self._loaded()
        slot = job.slot
        assert slot is not None
        req = job.request
        n_cached = len(slot.cache)
        keep = job.keep
        discard = shift_discard(n_cached, keep, model.info.n_ctx)
        if (
            not req.shift
            or req.images  # image positions cannot be slid like text tokens
            or req.n_predict == -2
            or not model.can_shift
            or not ll.llama_memory_seq_rm(model.memory, slot.seq_id, keep, keep + discard)
        ):
            self._finish(job, "length")
            return
        ll.llama_memory_seq_add(model.memory, slot.seq_id, keep + discard, n_cached, -discard)
        del slot.cache[keep : keep + discard]
        logger.debug("context shift slot=%d keep=%d discard=%d", slot.seq_id, keep, discard)

    def _add(self, token: int, pos: int, seq_id: int, logits: bool) -> int:
        batch = self._batch
        i = int(batch.n_tokens)
        batch.token[i] = token
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq_id
        batch.logits[i] = logits
        batch.n_tokens = i + 1
        return i

    def _on_token(self, job: Job, token: int) -> None:
        model = self._loaded()
        job.n_decoded += 1
        if model.is_eog(token):
            self._finish(job, "stop")
            return
        text = job.assembler.feed(model.piece(token))
        out = job.stopper.feed(text) if text else ""
        if out:
            self._emit(job, Piece(out, tuple(job.logprobs)))
            job.logprobs.clear()
        if job.stopper.stopped:
            self._finish(job, "stop")
        elif 0 <= job.request.n_predict <= job.n_decoded:
            self._finish(job, "length")
        else:
            job.pending = token  # decoded at the next step (after a shift if the context is full)

    def _finish(self, job: Job, reason: str) -> None:
        tail = job.stopper.feed(job.assembler.flush()) if not job.stopper.stopped else ""
        tail += job.stopper.flush()
        if tail:
            self._emit(job, Piece(tail, tuple(job.logprobs)))
        now = time.perf_counter_ns()
        first = job.t_first or now
        self.graphs_reused = int(ll.llama_perf_context(self._loaded().ctx).n_reused)
        self._emit(
            job,
            Done(
                done_reason=reason,
                prompt_eval_count=job.n_prompt_eval,
                prompt_eval_duration=first - job.t_start,
                eval_count=job.n_decoded,
                eval_duration=now - first,
            ),
        )
        self._release(job)

    def _release(self, job: Job) -> None:
        self._free_sampler(job)
        if job.slot is not None:
            job.slot.job = None
            job.slot = None
        job.pending = None
        if job in self._active:
            self._active.remove(job)

    def _free_sampler(self, job: Job) -> None:
        if job.sampler:
            ll.llama_sampler_free(job.sampler)
            job.sampler = None
        if job.vision is not None:
            job.vision.free()
            job.vision = None

    def _decode_failed(self, status: int, jobs: list[Job]) -> None:
        model = self._loaded()
        logger.error("llama_decode failed status=%d sequences=%d", status, len(jobs))
        for job in jobs:
            slot = job.slot
            if slot is not None:
                ll.llama_memory_seq_rm(model.memory, slot.seq_id, -1, -1)
                slot.cache.clear()
            error = RunnerError(f"decoding failed (llama_decode returned {status})")
            self._emit(job, Failed(error))
            self._release(job)

    def _embed(self, texts: tuple[str, ...], *, truncate: bool) -> tuple[list[list[float]], int]:
        model = self._loaded()
        if not self.config.embedding:
            raise InvalidRequest("this runner was not started with --embedding")
        pooling = int(ll.llama_pooling_type(model.ctx))
        n_out = int(ll.llama_model_n_embd_out(model.model))
        results: list[list[float]] = []
        total = 0
        for index, text in enumerate(texts):
            tokens = model.tokenize(text, add_special=True, parse_special=True)
            if not tokens:
                raise InvalidRequest(f"input {index} is empty")
            limit = min(model.n_batch, model.info.n_ctx)
            if len(tokens) > limit:
                if not truncate:
                    raise InvalidRequest(
                        f"the input length exceeds the context length: input {index} has "
                        f"{len(tokens)} tokens, the context {limit}"
                    )
                tokens = tokens[:limit]
            ll.llama_memory_clear(model.memory, True)
            batch = self._batch
            batch.n_tokens = 0
            last = len(tokens) - 1
            for pos, token in enumerate(tokens):
                pooled = pooling != ll.LLAMA_POOLING_TYPE_NONE
                self._add(token, pos, 0, pooled or pos == last)
            status = ll.llama_decode(model.ctx, batch)
            if status != 0:
                raise RunnerError(
                    f"embedding input {index} failed (llama_decode returned {status})"
                )
            if pooling == ll.LLAMA_POOLING_TYPE_NONE:
                ptr = ll.llama_get_embeddings_ith(model.ctx, -1)
            else:
                ptr = ll.llama_get_embeddings_seq(model.ctx, 0)
            if not ptr:
                raise RunnerError(f"llama.cpp returned no embedding for input {index}")
            results.append([float(x) for x in ptr[:n_out]])
            total += len(tokens)
        return results, total

    def _shutdown(self) -> None:
        error = RunnerError("the runner is shutting down")
        for job in [*self._active, *self._waiting]:
            self._emit(job, Failed(error))
            self._release(job)
        self._waiting.clear()
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                break
            if isinstance(command, Job):
                self._emit(command, Failed(error))
            elif isinstance(command, _Call):
                command.future.cancel()
        self._deliver()
        if self._batch is not None:
            ll.llama_batch_free(self._batch)
            self._batch = None
        if self._projector is not None:
            self._projector.free()
            self._projector = None
        if self._model is not None:
            self._model.free()
            self._model = None
        if self.state == "ok":
            self.state = "stopped"
