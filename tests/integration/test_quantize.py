"""`create --quantize`: llama.cpp's quantizer from F16 checkpoints and models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import ollama
import pytest

from tests.convert.tiny import GEMMA, GEMMA2, GEMMA3, LLAMA, PHI3, QWEN2, build_checkpoint
from tests.integration.conftest import CATALOG_MODEL, Daemon
from tests.integration.test_cli_e2e import corral

pytestmark = pytest.mark.integration


def _show(daemon: Daemon, name: str) -> dict[str, object]:
    response = httpx.post(f"{daemon.url}/api/show", json={"model": name}, timeout=30)
    response.raise_for_status()
    return dict(response.json())


def _size(daemon: Daemon, name: str) -> int:
    models = httpx.get(f"{daemon.url}/api/tags", timeout=30).json()["models"]
    (entry,) = [m for m in models if m["name"] == name]
    return int(entry["size"])


def _generates(daemon: Daemon, name: str) -> None:
    answer = ollama.Client(host=daemon.url).generate(
        model=name, prompt="The quick brown fox", options={"num_predict": 6}, raw=True
    )
    assert answer.done
    assert answer.eval_count and answer.eval_count > 0


@pytest.mark.parametrize(
    "spec",
    [LLAMA, QWEN2, GEMMA, GEMMA2, GEMMA3, PHI3],
    ids=["llama", "qwen2", "gemma", "gemma2", "gemma3", "phi3"],
)
def test_checkpoint_quantized_on_create(
    make_daemon: Callable[..., Daemon], tmp_path: Path, spec: object
) -> None:
    daemon = make_daemon()
    build_checkpoint(tmp_path / "ckpt", spec)  # type: ignore[arg-type]
    (tmp_path / "Modelfile").write_text("FROM ./ckpt\n")
    sizes = {}
    for level in ("Q8_0", "Q4_K_M", "F16"):
        name = f"tiny-{level.lower()}"
        created = corral(
            daemon, "create", name, "-f", str(tmp_path / "Modelfile"), "--quantize", level.lower()
        )
        assert created.returncode == 0, created.stderr
        if level != "F16":
            assert f"quantizing F16 model to {level}" in created.stderr.decode()
        details = _show(daemon, name)["details"]
        assert isinstance(details, dict)
        assert details["quantization_level"] == level
        sizes[level] = _size(daemon, f"{name}:latest")
        _generates(daemon, name)
        _no_stray_gguf(daemon)
    assert sizes["Q4_K_M"] < sizes["Q8_0"] < 0.6 * sizes["F16"]


def _no_stray_gguf(daemon: Daemon) -> None:
    """The intermediate F16 conversion of a quantized create is not left behind."""
    manifests = [p.read_text() for p in (daemon.models / "manifests").rglob("*") if p.is_file()]
    for blob in (daemon.models / "blobs").iterdir():
        with blob.open("rb") as handle:
            if handle.read(4) != b"GGUF":
                continue  # uploaded checkpoint files stay until pruned, as in Ollama
        assert any(blob.name.replace("-", ":") in m for m in manifests), blob.name


def test_quantize_an_f16_model_by_name(make_daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    daemon = make_daemon()
    build_checkpoint(tmp_path / "ckpt", LLAMA)
    (tmp_path / "Modelfile").write_text("FROM ./ckpt\nSYSTEM be brief\n")
    assert corral(daemon, "create", "base", "-f", str(tmp_path / "Modelfile")).returncode == 0
    events = list(
        ollama.Client(host=daemon.url).create(
            model="small", from_="base", quantize="q6_k", stream=True
        )
    )
    steps = [e for e in events if e.total]
    assert steps and steps[-1].completed == steps[-1].total
    show = _show(daemon, "small")
    assert show["details"]["quantization_level"] == "Q6_K"  # type: ignore[index]
    assert show["system"] == "be brief"
    assert _size(daemon, "small:latest") < _size(daemon, "base:latest")
    _generates(daemon, "small")


def test_unknown_quantization_type(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon()
    response = httpx.post(
        f"{daemon.url}/api/create",
        json={"model": "x", "from": "whatever", "quantize": "Q3_BOGUS"},
        timeout=30,
    )
    assert response.status_code == 400
    message = response.json()["error"]
    assert '"Q3_BOGUS"' in message
    assert "Q4_K_M" in message


def test_requantizing_smollm2_is_refused(daemon: Daemon) -> None:
    created = corral(
        daemon,
        "create",
        "requant",
        "--quantize",
        "q4_K_M",
        "-f",
        "/dev/stdin",
        stdin=f"FROM {CATALOG_MODEL}\n".encode(),
    )
    assert created.returncode == 1
    message = created.stderr.decode()
    assert "cannot quantize a Q4_1 model to Q4_K_M" in message
    assert "Traceback" not in message
    tags = httpx.get(f"{daemon.url}/api/tags", timeout=30).json()["models"]
    assert "requant:latest" not in [m["name"] for m in tags]
