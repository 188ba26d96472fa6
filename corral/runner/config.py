"""The runner's command line: every setting arrives as argv from the daemon."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunnerConfig", "default_threads", "parse_args"]

_SYS_CPU = Path("/sys/devices/system/cpu")


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    """Settings of one runner process."""

    model: Path
    port: int = 0
    host: str = "127.0.0.1"
    socket: Path | None = None
    """A Unix socket to listen on instead of `host`:`port` (what the daemon uses)."""
    ctx_size: int = 4096
    """Context length of each sequence; the llama context holds ctx_size × parallel."""
    parallel: int = 1
    threads: int = 0
    """0 picks llama-server's default: one thread per physical core (`default_threads`)."""
    batch_size: int = 512
    gpu_layers: int = -1
    """-1 offloads every layer llama.cpp can; 0 runs on the CPU."""
    lora: tuple[Path, ...] = ()
    mmproj: Path | None = None
    """A vision projector GGUF: the runner then reads images (llama.cpp's mtmd)."""
    embedding: bool = False
    pooling: str = ""
    """With `embedding`: none, mean, cls, last or rank; empty keeps the model's own."""
    no_mmap: bool = False
    parent_pid: int | None = None
    verbose: bool = False


def default_threads(sys_cpu: Path = _SYS_CPU) -> int:
    """llama-server's default thread count: one per physical core.

    Cores are told apart by their `thread_siblings` sets, as llama.cpp's
    `common_cpu_get_num_physical_cores` does; without sysfs, half the logical CPUs
    above four, else all of them.
    """
    siblings: set[str] = set()
    cpu = 0
    while True:
        try:
            siblings.add(
                (sys_cpu / f"cpu{cpu}" / "topology" / "thread_siblings").read_text().strip()
            )
        except OSError:
            break
        cpu += 1
    if siblings:
        return len(siblings)
    logical = os.cpu_count() or 0
    if logical <= 0:
        return 4
    return logical if logical <= 4 else logical // 2


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port between 0 and 65535, not {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m corral.runner",
        description="Serve one GGUF model over loopback HTTP with streamed NDJSON.",
    )
    p.add_argument("--model", required=True, type=Path, help="path of the GGUF file")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=_port, help="TCP port to listen on")
    where.add_argument("--socket", type=Path, help="Unix socket to listen on instead")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--ctx-size", type=_positive, default=4096, help="context per sequence")
    p.add_argument("--parallel", type=_positive, default=1, help="sequences decoded together")
    p.add_argument(
        "--threads", type=_non_negative, default=0, help="CPU threads (0 = one per physical core)"
    )
    p.add_argument("--batch-size", type=_positive, default=512, help="tokens per decode call")
    p.add_argument("--gpu-layers", type=int, default=-1, help="layers to offload (-1 = all)")
    p.add_argument("--lora", type=Path, action="append", default=[], help="LoRA adapter GGUF")
    p.add_argument("--mmproj", type=Path, default=None, help="vision projector GGUF (reads images)")
    p.add_argument("--embedding", action="store_true", help="serve /embedding instead")
    p.add_argument(
        "--pooling",
        choices=["", "none", "mean", "cls", "last", "rank"],
        default="",
        help="embedding pooling (default: the model's)",
    )
    p.add_argument("--no-mmap", action="store_true", help="read the weights instead of mmap")
    p.add_argument("--parent-pid", type=int, default=None, help="exit when this parent dies")
    p.add_argument("--verbose", action="store_true", help="let llama.cpp log to stderr")
    return p


def parse_args(argv: Sequence[str] | None = None) -> RunnerConfig:
    """Parse the runner's argv (argparse exits with status 2 on bad arguments)."""
    ns = _parser().parse_args(argv)
    return RunnerConfig(
        model=ns.model,
        port=ns.port or 0,
        host=ns.host,
        socket=ns.socket,
        ctx_size=ns.ctx_size,
        parallel=ns.parallel,
        threads=ns.threads,
        batch_size=ns.batch_size,
        gpu_layers=ns.gpu_layers,
        lora=tuple(ns.lora),
        mmproj=ns.mmproj,
        embedding=ns.embedding,
        pooling=ns.pooling,
        no_mmap=ns.no_mmap,
        parent_pid=ns.parent_pid,
        verbose=ns.verbose,
    )
