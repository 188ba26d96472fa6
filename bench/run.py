"""Run corral and llama.cpp's llama-server side by side on the same GGUF files; print ratios.

    python bench/run.py            # builds llama.cpp once (cached), then about 10-15 minutes

Both servers get the same model file, threads, context per sequence, parallel sequences
and sampling (temperature 0, repeat penalty 1, seed 42, 128 tokens). Runs of the two
alternate (ABBA order) and each figure is the median of several repetitions; a ratio
(or a difference, for time to first token's slack) is the median over the pairs run back
to back, so that the machine's drift from one pair to the next cancels. The table
goes to stdout, progress to stderr, the raw samples to bench/.cache/last-run.json. The
exit status is 1 when a target is missed, 2 when the benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in {None, ""}:  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.clients import (
    Completion,
    anchor_chat,
    anchor_complete,
    concurrently,
    corral_chat,
    corral_generate,
)
from bench.report import (
    AtLeast,
    AtMost,
    Row,
    aggregate_rate,
    decode_rate,
    exit_code,
    format_table,
    median,
)
from bench.servers import Corral, LlamaServer, cpu_seconds, model_blob

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"

MODELS = {"smollm2:135m": "SmolLM2", "gemma3:270m": "Gemma 3"}
COLD_SETTLE = 2.0
"""Seconds of rest before each cold start, for both servers."""
CHAT_MODEL = "smollm2:135m"

# A raw prompt both models continue for far more than 128 tokens without an end-of-sequence
# token: corral has no `ignore_eos`, so this is how its generations run the full length too
# (each run checks the token counts and the table says so when they differ).
COUNTING = ", ".join(str(n) for n in range(1, 13)) + ","

CHAT_SYSTEM = "You are a helpful assistant. Answer in one or two sentences."
CHAT_TURNS = (
    "What is the capital of France?",
    "And of Italy?",
    "Which of the two cities is older?",
    "Name a famous museum in the first city.",
    "What is a famous painting there?",
    "Who painted it?",
    "When did the painter live?",
    "Name another work by the same painter.",
    "Where can that work be seen today?",
    "Thank you! Summarise our conversation in one sentence.",
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Settings:
    threads: int
    ctx: int
    tokens: int
    reps: int
    parallel: int

    def corral_options(self, n_predict: int) -> dict[str, Any]:
        return {
            "temperature": 0,
            "repeat_penalty": 1.0,
            "seed": 42,
            "num_predict": n_predict,
            "num_ctx": self.ctx,
            "num_thread": self.threads,
        }

    def anchor_options(self, n_predict: int) -> dict[str, Any]:
        return {
            "temperature": 0,
            "repeat_penalty": 1.0,
            "seed": 42,
            "n_predict": n_predict,
            "ignore_eos": True,
            "cache_prompt": True,
        }


def build_llama() -> Path:
    """The directory with llama-server and llama-bench (built once, then cached)."""
    result = subprocess.run(
        ["bash", str(HERE / "build_llama.sh")], stdout=subprocess.PIPE, text=True, check=True
    )
    return Path(result.stdout.strip().splitlines()[-1])


def alternate(
    reps: int, corral: Callable[[], Any], anchor: Callable[[], Any]
) -> tuple[list[Any], list[Any]]:
    """Run both `reps` times in ABBA order, so slow drifts of a noisy machine even out."""
    ours: list[Any] = []
    theirs: list[Any] = []
    for rep in range(reps):
        if rep % 2 == 0:
            ours.append(corral())
            theirs.append(anchor())
        else:
            theirs.append(anchor())
            ours.append(corral())
    return ours, theirs


def _row(
    measure: str,
    unit: str,
    ours: list[float],
    theirs: list[float],
    target: Any = None,
    note: str = "",
    *,
    paired: bool = False,
) -> Row:
    return Row(
        measure,
        unit,
        median(ours) if ours else None,
        median(theirs) if theirs else None,
        target,
        note,
        (tuple(ours), tuple(theirs)),
        paired,
    )


def _count_note(ours: list[Completion], theirs: list[Completion], want: int) -> str:
    counts = sorted({c.stream.tokens for c in ours} | {c.stream.tokens for c in theirs})
    return "" if counts == [want] else "tokens generated " + "/".join(map(str, counts))


class Bench:
    def __init__(self, settings: Settings, bin_dir: Path) -> None:
        self.s = settings
        self.bin = bin_dir
        self.rows: list[Row] = []
        # A fresh connection per request for both servers: llama-server closes idle ones after
        # 5 s, and reusing one it has just closed fails ("Server disconnected").
        self.client = httpx.Client(
            timeout=httpx.Timeout(300, connect=5),
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    # -- helpers ---------------------------------------------------------------------------

    def corral_body(self, model: str, prompt: str, n_predict: int) -> dict[str, Any]:
        return {
            "model": model,
            "prompt": prompt,
            "raw": True,
            "keep_alive": "30m",
            "options": self.s.corral_options(n_predict),
        }

    def anchor(self, blob: Path, name: str, parallel: int) -> LlamaServer:
        return LlamaServer(
            binary=self.bin / "llama-server",
            model=blob,
            log=CACHE / "logs" / f"llama-server-{name.replace(':', '-')}-np{parallel}.log",
            threads=self.s.threads,
            ctx_per_seq=self.s.ctx,
            parallel=parallel,
        )

    # -- measures --------------------------------------------------------------------------

    def llama_bench(self, label: str, blob: Path) -> dict[str, float]:
        log(f"llama-bench {label}")
        out = subprocess.run(
            [
                str(self.bin / "llama-bench"),
                "-m",
                str(blob),
                "-t",
                str(self.s.threads),
                "-p",
                "128",
                "-n",
                str(self.s.tokens),
                "-r",
                str(min(3, self.s.reps)),
                "-o",
                "json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            check=True,
        )
        results: dict[str, float] = {}
        for entry in json.loads(out.stdout):
            key = f"tg{entry['n_gen']}" if entry["n_gen"] else f"pp{entry['n_prompt']}"
            results[key] = float(entry["avg_ts"])
        return results

    def single_stream(
        self, corral: Corral, anchor: LlamaServer, model: str, label: str, bench_tg: float | None
    ) -> None:
        n = self.s.tokens
        log(f"single-stream decode {label}: {self.s.reps} runs each")
        # CPU time per generated token, per process: where corral's time goes.
        daemon_cpu: list[float] = []
        runner_cpu: list[float] = []
        anchor_cpu: list[float] = []

        def mine() -> Completion:
            pids = corral.runner_pids()
            before = cpu_seconds(pids), cpu_seconds(corral.pids())
            c = corral_generate(self.client, corral.url, self.corral_body(model, COUNTING, n))
            tokens = max(1, c.stream.tokens)
            runner_cpu.append((cpu_seconds(pids) - before[0]) / tokens * 1e3)
            daemon_cpu.append((cpu_seconds(corral.pids()) - before[1]) / tokens * 1e3)
            return c

        def other() -> Completion:
            pids = anchor.pids()
            before = cpu_seconds(pids)
            c = anchor_complete(
                self.client, anchor.url, {"prompt": COUNTING, **self.s.anchor_options(n)}
            )
            anchor_cpu.append((cpu_seconds(pids) - before) / max(1, c.stream.tokens) * 1e3)
            return c

        ours, theirs = alternate(self.s.reps, mine, other)
        note = _count_note(ours, theirs, n)
        self.rows.append(
            _row(
                f"decode, 1 stream, {label} (client)",
                "tok/s",
                [decode_rate(c.stream) for c in ours],
                [decode_rate(c.stream) for c in theirs],
                AtLeast(0.95),
                note,
                paired=True,
            )
        )
        corral_server = [c.final["eval_count"] / c.final["eval_duration"] * 1e9 for c in ours]
        self.rows.append(
            _row(
                f"decode, 1 stream, {label} (servers' timings)",
                "tok/s",
                corral_server,
                [c.final["timings"]["predicted_per_second"] for c in theirs],
            )
        )
        total = [a + b for a, b in zip(runner_cpu, daemon_cpu, strict=True)]
        self.rows.append(
            _row(
                f"CPU time per token, 1 stream, {label}",
                "ms",
                total,
                anchor_cpu,
                note=f"corral runner {median(runner_cpu):.2f} + daemon {median(daemon_cpu):.2f}",
            )
        )
        if bench_tg is not None:
            self.rows.append(
                Row(
                    f"llama-bench tg{n} {label} vs corral server timing",
                    "tok/s",
                    median(corral_server),
                    bench_tg,
                )
            )

    def ttft(self, corral: Corral, anchor: LlamaServer, model: str, label: str) -> None:
        log(f"time to first token {label}")
        counter = iter(range(1000))

        def prompt() -> str:
            # A different start each time, so neither server finds the prompt in its cache.
            return f"Question {next(counter)}: why is the sky blue?"

        ours, theirs = alternate(
            self.s.reps,
            lambda: corral_generate(self.client, corral.url, self.corral_body(model, prompt(), 4)),
            lambda: anchor_complete(
                self.client, anchor.url, {"prompt": prompt(), **self.s.anchor_options(4)}
            ),
        )
        self.rows.append(
            _row(
                f"time to first token, warm, short prompt, {label}",
                "ms",
                [c.ttft * 1e3 for c in ours],
                [c.ttft * 1e3 for c in theirs],
                AtMost(1.10, slack=10.0),
                paired=True,
            )
        )

    def cold_start(self, corral: Corral, blob: Path, model: str, label: str) -> None:
        log(f"cold start {label}")
        reps = max(1, (self.s.reps + 1) // 2)

        # Each start begins on a machine at rest: the last start's leftovers (corral's next
        # spare runner importing, the last llama-server exiting) are given time to finish.
        def ours() -> float:
            corral.unload(model)
            time.sleep(COLD_SETTLE)
            c = corral_generate(self.client, corral.url, self.corral_body(model, "Hello", 2))
            return c.ttft * 1e3

        def theirs() -> float:
            time.sleep(COLD_SETTLE)
            server = self.anchor(blob, model, 1)
            started = server.spawn()
            try:
                server.wait_ready(poll=0.002)
                c = anchor_complete(
                    self.client,
                    server.url,
                    {"prompt": "Hello", **self.s.anchor_options(2)},
                    sent=started,
                )
            finally:
                server.stop()
            return c.ttft * 1e3

        a, b = alternate(reps, ours, theirs)
        self.rows.append(
            _row(
                f"cold start to first token, {label}",
                "ms",
                a,
                b,
                AtMost(1.2),
                "corral: request, runner start and load; llama-server: process start",
                paired=True,
            )
        )

    def chat(self, corral: Corral, anchor: LlamaServer, model: str, label: str) -> None:
        log(f"10-turn chat {label}")
        corral.unload(model)  # start from an empty KV cache, like the fresh anchor slot
        n_predict = 16
        ours: list[dict[str, Any]] = []
        theirs: list[dict[str, Any]] = []
        mine = [{"role": "system", "content": CHAT_SYSTEM}]
        other = [{"role": "system", "content": CHAT_SYSTEM}]
        for turn in CHAT_TURNS:
            mine.append({"role": "user", "content": turn})
            other.append({"role": "user", "content": turn})
            a = corral_chat(
                self.client,
                corral.url,
                {
                    "model": model,
                    "messages": mine,
                    "keep_alive": "30m",
                    "options": self.s.corral_options(n_predict),
                },
            )
            b = anchor_chat(
                self.client,
                anchor.url,
                {
                    "messages": other,
                    "max_tokens": n_predict,
                    "temperature": 0,
                    "repeat_penalty": 1.0,
                    "seed": 42,
                    "cache_prompt": True,
                },
            )
            mine.append({"role": "assistant", "content": a["message"]["content"]})
            other.append({"role": "assistant", "content": b["choices"][0]["message"]["content"]})
            ours.append(a)
            theirs.append(b)
        last_ours, last_theirs = ours[-1], theirs[-1]
        timings = last_theirs.get("timings", {})
        anchor_eval = float(timings.get("prompt_n", last_theirs["usage"]["prompt_tokens"]))
        total = int(last_theirs["usage"]["prompt_tokens"])
        user_tokens = len(
            self.client.post(f"{anchor.url}/tokenize", json={"content": CHAT_TURNS[-1]}).json()[
                "tokens"
            ]
        )
        self.rows.append(
            Row(
                f"10-turn chat, prompt tokens evaluated in turn 10, {label}",
                "tokens",
                float(last_ours["prompt_eval_count"]),
                anchor_eval,
                AtMost(1.0, slack=4.0),
                f"prompt {total} tokens, new user text {user_tokens}",
                (
                    tuple(float(r["prompt_eval_count"]) for r in ours),
                    tuple(float(r.get("timings", {}).get("prompt_n", -1)) for r in theirs),
                ),
            )
        )

    def aggregate(
        self, corral: Corral, anchor: LlamaServer, model: str, label: str, streams: int
    ) -> None:
        n = self.s.tokens
        log(f"aggregate decode, {streams} streams, {label}")
        prompts = [", ".join(str(100 * i + k) for k in range(1, 13)) + "," for i in range(streams)]

        def ours() -> list[Completion]:
            bodies = [self.corral_body(model, p, n) for p in prompts]
            return concurrently(
                [partial(corral_generate, self.client, corral.url, body) for body in bodies]
            )

        def theirs() -> list[Completion]:
            bodies = [{"prompt": p, **self.s.anchor_options(n)} for p in prompts]
            return concurrently(
                [partial(anchor_complete, self.client, anchor.url, body) for body in bodies]
            )

        # One untimed round each first: every slot has then held its prompt once, on both.
        ours()
        theirs()
        a, b = alternate(self.s.reps, ours, theirs)
        flat_a = [c for run in a for c in run]
        flat_b = [c for run in b for c in run]
        self.rows.append(
            _row(
                f"aggregate decode, {streams} streams, {label}",
                "tok/s",
                [aggregate_rate([c.stream for c in run]) for run in a],
                [aggregate_rate([c.stream for c in run]) for run in b],
                AtLeast(0.95),
                _count_note(flat_a, flat_b, n),
                paired=True,
            )
        )

    def warm(self, corral: Corral, anchor: LlamaServer, model: str) -> None:
        corral_generate(self.client, corral.url, self.corral_body(model, COUNTING, 8))
        anchor_complete(self.client, anchor.url, {"prompt": COUNTING, **self.s.anchor_options(8)})


def run(settings: Settings, models: list[str], rows: list[Row]) -> None:
    """Measure everything, appending to `rows` as it goes (so an interrupted run shows some)."""
    bin_dir = build_llama()
    bench = Bench(settings, bin_dir)
    bench.rows = rows
    store = CACHE / "corral-models"
    env = {
        "CORRAL_NUM_THREAD": str(settings.threads),
        "CORRAL_CONTEXT_LENGTH": str(settings.ctx),
        "CORRAL_KEEP_ALIVE": "30m",
    }
    corral = Corral(CACHE / "corral-home", store, {**env, "CORRAL_NUM_PARALLEL": "1"})
    started: list[Corral | LlamaServer] = [corral]
    try:
        corral.start()
        blobs = {}
        for model in models:
            log(f"pulling {model} into {store} (once)")
            corral.ensure_pulled(model)
            blobs[model] = model_blob(store, model)
        for model in models:
            label = MODELS.get(model, model)
            tg = bench.llama_bench(label, blobs[model])
            bench.rows.append(Row(f"llama-bench pp128 {label}", "tok/s", None, tg.get("pp128")))
            anchor = bench.anchor(blobs[model], model, 1)
            started.append(anchor)
            anchor.start()
            bench.warm(corral, anchor, model)
            bench.single_stream(corral, anchor, model, label, tg.get(f"tg{settings.tokens}"))
            bench.ttft(corral, anchor, model, label)
            if model == CHAT_MODEL:
                bench.chat(corral, anchor, model, label)
            anchor.stop()
            bench.cold_start(corral, blobs[model], model, label)
            corral.unload(model)
        corral.stop()
        log(f"restarting corral with CORRAL_NUM_PARALLEL={settings.parallel}")
        corral = Corral(
            CACHE / "corral-home", store, {**env, "CORRAL_NUM_PARALLEL": str(settings.parallel)}
        )
        started.append(corral)
        corral.start()
        for model in models:
            label = MODELS.get(model, model)
            anchor = bench.anchor(blobs[model], model, settings.parallel)
            started.append(anchor)
            anchor.start()
            bench.warm(corral, anchor, model)
            bench.aggregate(corral, anchor, model, label, settings.parallel)
            anchor.stop()
            corral.unload(model)
    finally:
        for server in reversed(started):
            server.stop()
        bench.client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=15, help="repetitions per measure (median)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for both servers")
    parser.add_argument("--ctx", type=int, default=2048, help="context per sequence")
    parser.add_argument("--tokens", type=int, default=128, help="tokens generated per stream")
    parser.add_argument("--parallel", type=int, default=4, help="streams for the aggregate")
    parser.add_argument(
        "--models", default=",".join(MODELS), help="catalog models (comma separated)"
    )
    args = parser.parse_args(argv)
    settings = Settings(args.threads, args.ctx, args.tokens, max(1, args.reps), args.parallel)
    # A plain SIGTERM would skip the `finally` that stops both servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    rows: list[Row] = []
    try:
        run(settings, [m.strip() for m in args.models.split(",") if m.strip()], rows)
    except (RuntimeError, subprocess.CalledProcessError, httpx.HTTPError, OSError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        _partial(rows)
        return 2
    except (KeyboardInterrupt, SystemExit):
        _partial(rows)
        return 130
    (CACHE / "last-run.json").write_text(
        json.dumps(
            [
                {
                    "measure": r.measure,
                    "unit": r.unit,
                    "corral": r.corral,
                    "anchor": r.anchor,
                    "ratio": r.ratio,
                    "passed": r.passed,
                    "note": r.note,
                    "samples": {"corral": r.samples[0], "anchor": r.samples[1]},
                }
                for r in rows
            ],
            indent=1,
        )
    )
    print(format_table(rows))
    print(
        f"\n{settings.threads} threads, num_ctx {settings.ctx}, {settings.tokens} tokens, "
        f"median of {settings.reps} runs; {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    return exit_code(rows)


def _partial(rows: list[Row]) -> None:
    if rows:
        print("bench: interrupted; what was measured so far:", file=sys.stderr)
        print(format_table(rows), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
