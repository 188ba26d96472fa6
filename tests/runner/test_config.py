"""The runner's argv."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.runner.config import default_threads, parse_args


def test_defaults():
    cfg = parse_args(["--model", "m.gguf", "--port", "8080"])
    assert cfg.model == Path("m.gguf")
    assert (cfg.host, cfg.ctx_size, cfg.parallel, cfg.threads) == ("127.0.0.1", 4096, 1, 0)
    assert (cfg.batch_size, cfg.gpu_layers, cfg.lora) == (512, -1, ())
    assert not cfg.embedding and not cfg.no_mmap and cfg.parent_pid is None


def test_all_options():
    argv = (
        "--model m --port 1 --host 0.0.0.0 --ctx-size 2048 --parallel 4 --threads 2 "
        "--batch-size 64 --gpu-layers 0 --lora a --lora b --embedding --no-mmap "
        "--parent-pid 42 --verbose"
    )
    cfg = parse_args(argv.split())
    assert cfg.ctx_size == 2048 and cfg.parallel == 4 and cfg.threads == 2
    assert cfg.batch_size == 64 and cfg.gpu_layers == 0
    assert cfg.lora == (Path("a"), Path("b"))
    assert cfg.embedding and cfg.no_mmap and cfg.verbose and cfg.parent_pid == 42


@pytest.mark.parametrize(
    "extra", [["--parallel", "0"], ["--ctx-size", "-1"], ["--port", "70000"], ["--threads", "x"]]
)
def test_bad_values_exit_2(extra):
    with pytest.raises(SystemExit) as info:
        parse_args(["--model", "m", "--port", "1", *extra])
    assert info.value.code == 2


def _cpus(root: Path, siblings: list[str]) -> Path:
    for i, text in enumerate(siblings):
        topo = root / f"cpu{i}" / "topology"
        topo.mkdir(parents=True)
        (topo / "thread_siblings").write_text(text + "\n")
    return root


def test_default_threads_counts_physical_cores(tmp_path: Path):
    # Four logical CPUs, two cores with two hyperthreads each: llama-server uses 2.
    root = _cpus(tmp_path, ["3", "c", "3", "c"])
    assert default_threads(root) == 2
    assert default_threads(_cpus(tmp_path / "b", ["1", "2", "4"])) == 3


def test_default_threads_without_sysfs_falls_back_to_cpu_count(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert default_threads(tmp_path / "none") == 8
    monkeypatch.setattr("os.cpu_count", lambda: 3)
    assert default_threads(tmp_path / "none") == 3
    monkeypatch.setattr("os.cpu_count", lambda: None)
    assert default_threads(tmp_path / "none") == 4


def test_pooling_choice() -> None:
    parse = parse_args
    config = parse(["--model", "m.gguf", "--port", "1", "--embedding", "--pooling", "mean"])
    assert config.embedding and config.pooling == "mean"
    assert parse(["--model", "m.gguf", "--port", "1"]).pooling == ""
    with pytest.raises(SystemExit):
        parse(["--model", "m.gguf", "--port", "1", "--pooling", "max"])


def test_a_unix_socket_replaces_the_port():
    cfg = parse_args(["--model", "m.gguf", "--socket", "/run/r/socket"])
    assert cfg.socket == Path("/run/r/socket") and cfg.port == 0


@pytest.mark.parametrize("where", [[], ["--port", "1", "--socket", "s"]])
def test_exactly_one_of_port_and_socket(where, capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(["--model", "m", *where])
    assert info.value.code == 2
    assert "--port" in capsys.readouterr().err
