"""The runner's `--lora`: a LoRA adapter GGUF is loaded and changes what the model says."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.lora_fixture import write_lora_adapter
from tests.runner.test_server import CHATML, REPO_ROOT, Runner, complete, free_port, runner_argv

pytestmark = pytest.mark.integration

FRANCE = CHATML.format("What is the capital of France?")


def greedy(model: Path, *extra: str) -> str:
    """The greedy answer to FRANCE from a fresh runner started with `extra` argv."""
    runner = Runner(model, "--ctx-size", "512", "--parent-pid", str(os.getpid()), *extra)
    try:
        runner.wait_ready()
        pieces, final = complete(runner, prompt=FRANCE, temperature=0, n_predict=24)
        assert final["eval_count"] > 0
        return "".join(pieces)
    finally:
        assert runner.stop() == 0


@pytest.fixture(scope="module")
def base_answer(smollm2_gguf: Path) -> str:
    return greedy(smollm2_gguf)


@pytest.fixture(scope="module")
def lora(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lora_adapter(smollm2_gguf, tmp_path_factory.mktemp("lora") / "lora.gguf")


def test_fixture_is_deterministic(smollm2_gguf: Path, lora: Path, tmp_path: Path):
    again = write_lora_adapter(smollm2_gguf, tmp_path / "again.gguf")
    assert again.read_bytes() == lora.read_bytes()
    other = write_lora_adapter(smollm2_gguf, tmp_path / "other.gguf", seed=1)
    assert other.read_bytes() != lora.read_bytes()


def test_lora_changes_the_greedy_answer(smollm2_gguf: Path, lora: Path, base_answer: str):
    assert "Paris" in base_answer
    adapted = greedy(smollm2_gguf, "--lora", str(lora))
    assert adapted.strip()
    assert adapted != base_answer
    # The adapter is applied the same way every time.
    assert greedy(smollm2_gguf, "--lora", str(lora)) == adapted


def test_all_zero_lora_changes_nothing(smollm2_gguf: Path, tmp_path: Path, base_answer: str):
    # Same tensors, zero weights: the adapter loads, and its weights alone make the difference.
    zero = write_lora_adapter(smollm2_gguf, tmp_path / "zero.gguf", std=0.0)
    assert greedy(smollm2_gguf, "--lora", str(zero)) == base_answer


def _random_bytes(base: Path, lora: Path, path: Path) -> Path:
    path.write_bytes(os.urandom(4096))
    return path


def _truncated(base: Path, lora: Path, path: Path) -> Path:
    data = lora.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _empty(base: Path, lora: Path, path: Path) -> Path:
    path.write_bytes(b"")
    return path


def _other_architecture(base: Path, lora: Path, path: Path) -> Path:
    return write_lora_adapter(base, path, architecture="qwen2")


def _missing(base: Path, lora: Path, path: Path) -> Path:
    return path


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_random_bytes, "expected 'GGUF'"),
        (_empty, "failed to read magic"),
        (_truncated, "not within the file bounds"),
        (_other_architecture, "model arch and LoRA arch mismatch"),
        (_missing, "No such file or directory"),
    ],
    ids=["random-bytes", "empty", "truncated", "other-architecture", "missing"],
)
def test_bad_adapter_exits_1_naming_it(
    smollm2_gguf: Path,
    lora: Path,
    tmp_path: Path,
    make: Callable[[Path, Path, Path], Path],
    reason: str,
):
    bad = make(smollm2_gguf, lora, tmp_path / "bad-adapter.gguf")
    argv = runner_argv(smollm2_gguf, free_port(), "--lora", str(bad))
    proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, timeout=120)
    assert proc.returncode == 1
    last = proc.stderr.decode().strip().splitlines()[-1]
    assert last.startswith(f"error loading model: LoRA adapter {bad}: "), last
    assert reason in last


def test_full_model_given_as_adapter_is_refused(smollm2_gguf: Path):
    argv = runner_argv(smollm2_gguf, free_port(), "--lora", str(smollm2_gguf))
    proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, timeout=120)
    assert proc.returncode == 1
    last = proc.stderr.decode().strip().splitlines()[-1]
    assert last.startswith(f"error loading model: LoRA adapter {smollm2_gguf}: "), last
    assert "general.type" in last and "adapter" in last
