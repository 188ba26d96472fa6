"""Template conformance through the API: models created with each Ollama template render
the expected prompt in `/api/chat` with `_debug_render_only`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Daemon
from tests.template.test_conformance import CONFORMANCE, TRAILING_SPACE_DROPPED, cases, conversation

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CONFORMANCE.is_dir(), reason=f"no conformance cases at {CONFORMANCE}"),
]


def _model_digest(daemon: Daemon, smollm2_gguf: Path) -> str:
    digest = "sha256:" + hashlib.sha256(smollm2_gguf.read_bytes()).hexdigest()
    head = httpx.head(f"{daemon.url}/api/blobs/{digest}", timeout=10)
    assert head.status_code == 200  # the catalog pull stored the same file
    return digest


@pytest.fixture(scope="module")
def conformance_models(daemon: Daemon, smollm2_gguf: Path) -> dict[str, str]:
    digest = _model_digest(daemon, smollm2_gguf)
    names = {}
    for template in sorted(CONFORMANCE.glob("*.gotmpl")):
        params_file = template.with_suffix(".json")
        params = json.loads(params_file.read_text()) if params_file.exists() else {}
        name = f"conformance-{template.stem}"
        response = httpx.post(
            f"{daemon.url}/api/create",
            json={
                "model": name,
                "files": {"model.gguf": digest},
                "template": template.read_text(encoding="utf-8"),
                "parameters": params,
                "stream": False,
            },
            timeout=60,
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "success"
        names[template.stem] = name
    return names


@pytest.mark.parametrize(("template", "case"), cases())
def test_chat_renders_conformance_case(
    daemon: Daemon, conformance_models: dict[str, str], template: str, case: str
) -> None:
    expected = (CONFORMANCE / "expected" / template / case).read_bytes()
    response = httpx.post(
        f"{daemon.url}/api/chat",
        json={
            "model": conformance_models[template],
            "messages": conversation(case),
            "_debug_render_only": True,
            "stream": False,
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    rendered = response.json()["_debug_info"]["rendered_template"].encode()
    if template in TRAILING_SPACE_DROPPED and rendered.endswith(b" "):
        rendered = rendered[:-1]
    assert rendered == expected


def test_created_model_keeps_template_and_stop_parameters(
    daemon: Daemon, conformance_models: dict[str, str]
) -> None:
    shown = httpx.post(
        f"{daemon.url}/api/show", json={"model": conformance_models["chatml"]}, timeout=30
    ).json()
    assert shown["template"] == (CONFORMANCE / "chatml.gotmpl").read_text()
    assert 'stop                           "<|im_end|>"' in shown["parameters"]
    assert shown["capabilities"] == ["completion"]


def test_bad_template_is_refused_with_its_position(daemon: Daemon, smollm2_gguf: Path) -> None:
    digest = _model_digest(daemon, smollm2_gguf)
    response = httpx.post(
        f"{daemon.url}/api/create",
        json={
            "model": "bad-template",
            "files": {"model.gguf": digest},
            "template": "{{ range .Messages }}{{ .Content }",
            "stream": False,
        },
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("template: 1:")
