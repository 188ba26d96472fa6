"""Modelfiles as Ollama users write them: `corral create`, `show --modelfile`, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import ollama
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon
from tests.integration.test_cli_e2e import corral

pytestmark = pytest.mark.integration

CHATML = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)


def _manifest(daemon: Daemon, name: str, tag: str = "latest") -> dict[str, object]:
    path = daemon.models / "manifests" / "registry.ollama.ai" / "library" / name / tag
    return dict(json.loads(path.read_text()))


def _show(daemon: Daemon, name: str) -> dict[str, str]:
    response = httpx.post(f"{daemon.url}/api/show", json={"model": name}, timeout=30)
    response.raise_for_status()
    return dict(response.json())


def _layer_digests(manifest: dict[str, object]) -> list[tuple[str, str]]:
    layers = manifest["layers"]
    assert isinstance(layers, list)
    return [(layer["mediaType"], layer["digest"]) for layer in layers]


def _full_modelfile(gguf: Path) -> str:
    return (
        f"# A pirate\nFROM {gguf}\n"
        f'TEMPLATE """{CHATML}"""\n'
        "SYSTEM You are a pirate named Captain Bob.\n"
        "PARAMETER temperature 0\n"
        "PARAMETER num_predict 40\n"
        "PARAMETER stop <|im_end|>\n"
        'PARAMETER stop "."\n'
        "MESSAGE user Ahoy there!\n"
        "MESSAGE assistant Ahoy, matey\n"
        'LICENSE """Test licence.\nSecond line."""\n'
    )


def test_full_modelfile_creates_a_model_that_follows_it(
    daemon: Daemon, smollm2_gguf: Path, tmp_path: Path
) -> None:
    (tmp_path / "Modelfile").write_text(_full_modelfile(smollm2_gguf))
    created = corral(daemon, "create", "pirate", "-f", str(tmp_path / "Modelfile"))
    assert created.returncode == 0, created.stderr
    progress = (created.stdout + created.stderr).decode()
    for status in (
        "gathering model components",
        "using existing layer sha256:",
        "writing manifest",
        "success",
    ):
        assert status in progress
    media = [m for m, _ in _layer_digests(_manifest(daemon, "pirate"))]
    assert media == [
        "application/vnd.ollama.image.model",
        "application/vnd.ollama.image.template",
        "application/vnd.ollama.image.system",
        "application/vnd.ollama.image.license",
        "application/vnd.ollama.image.params",
        "application/vnd.ollama.image.messages",
    ]

    client = ollama.Client(host=daemon.url)
    answer = client.chat(model="pirate", messages=[{"role": "user", "content": "Who are you?"}])
    text = answer.message.content or ""
    assert "captain" in text.lower()  # the SYSTEM layer reached the model
    assert "." not in text and answer.done_reason == "stop"  # the stop word cut the answer

    rendered = httpx.post(
        f"{daemon.url}/api/chat",
        json={
            "model": "pirate",
            "messages": [{"role": "user", "content": "Who are you?"}],
            "_debug_render_only": True,
            "stream": False,
        },
        timeout=30,
    ).json()["_debug_info"]["rendered_template"]
    assert rendered == (
        "<|im_start|>system\nYou are a pirate named Captain Bob.<|im_end|>\n"
        "<|im_start|>user\nAhoy there!<|im_end|>\n"
        "<|im_start|>assistant\nAhoy, matey<|im_end|>\n"
        "<|im_start|>user\nWho are you?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    shown = _show(daemon, "pirate")
    assert shown["license"] == "Test licence.\nSecond line."
    assert shown["system"] == "You are a pirate named Captain Bob."


def test_show_modelfile_recreates_an_identical_manifest(
    daemon: Daemon, smollm2_gguf: Path, tmp_path: Path
) -> None:
    (tmp_path / "Modelfile").write_text(_full_modelfile(smollm2_gguf))
    assert corral(daemon, "create", "pirate-a", "-f", str(tmp_path / "Modelfile")).returncode == 0
    shown = corral(daemon, "show", "pirate-a", "--modelfile")
    assert shown.returncode == 0, shown.stderr
    (tmp_path / "Shown").write_bytes(shown.stdout)
    again = corral(daemon, "create", "pirate-b", "-f", str(tmp_path / "Shown"))
    assert again.returncode == 0, again.stderr
    first, second = _manifest(daemon, "pirate-a"), _manifest(daemon, "pirate-b")
    assert _layer_digests(first) == _layer_digests(second)
    assert first["config"] == second["config"]


def test_from_directory_and_from_model_name(
    daemon: Daemon, smollm2_gguf: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "model.gguf").symlink_to(smollm2_gguf)
    (tmp_path / "Modelfile").write_text("FROM ./weights\nPARAMETER top_k 7\n")
    created = corral(daemon, "create", "from-dir", "-f", str(tmp_path / "Modelfile"))
    assert created.returncode == 0, created.stderr
    base = _layer_digests(_manifest(daemon, CATALOG_MODEL.split(":")[0], "135m"))
    from_dir = _layer_digests(_manifest(daemon, "from-dir"))
    assert from_dir[0] == base[0]  # the same weights blob, stored once

    (tmp_path / "Modelfile").write_text(f"FROM {CATALOG_MODEL}\nSYSTEM Be brief.\n")
    inherited = corral(daemon, "create", "from-name", "-f", str(tmp_path / "Modelfile"))
    assert inherited.returncode == 0, inherited.stderr
    shown = _show(daemon, "from-name")
    assert shown["system"] == "Be brief."
    assert "<|im_start|>" in shown["template"]  # inherited from the base
    assert "<|im_end|>" in shown["parameters"]


def test_create_from_unknown_base_model_fails_cleanly(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "Modelfile").write_text("FROM no-such-base:7b\n")
    result = corral(daemon, "create", "orphan", "-f", str(tmp_path / "Modelfile"))
    assert result.returncode == 1
    assert "no-such-base" in result.stderr.decode()
    assert b"orphan" not in corral(daemon, "list").stdout
