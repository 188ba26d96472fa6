"""`images` on native requests: validated, refused by a model without a vision projector,
and passed on to the runner of a model with one (a projector it cannot load, here: no small
vision model is available to the tests)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import httpx
import ollama
import pytest

from corral.gguf.writer import TensorSpec, build_gguf
from corral.store import MEDIA_MODEL, MEDIA_PROJECTOR, Store
from tests.integration.conftest import CATALOG_MODEL, Daemon
from tests.integration.test_cli_e2e import corral

pytestmark = pytest.mark.integration

# A 1x1 transparent PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


def test_text_model_refuses_images_naming_the_model(daemon: Daemon) -> None:
    client = ollama.Client(host=daemon.url)
    with pytest.raises(ollama.ResponseError) as chat:
        client.chat(
            model=CATALOG_MODEL,
            messages=[{"role": "user", "content": "What is this?", "images": [PNG]}],
        )
    assert chat.value.status_code == 400
    assert chat.value.error == f'"{CATALOG_MODEL}" does not support images'
    with pytest.raises(ollama.ResponseError) as gen:
        client.generate(model=CATALOG_MODEL, prompt="What is this?", images=[PNG])
    assert gen.value.status_code == 400
    assert gen.value.error == f'"{CATALOG_MODEL}" does not support images'


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("not base64!", "invalid image data in images[0]: not base64"),
        (base64.b64encode(b"plain text, not a picture").decode(), "expected a JPEG, PNG or WebP"),
        (7, 'invalid value for "images[0]": expected a string'),
    ],
)
def test_bad_images_are_400(daemon: Daemon, image: object, message: str) -> None:
    response = httpx.post(
        f"{daemon.url}/api/generate",
        json={"model": CATALOG_MODEL, "prompt": "hi", "images": [image]},
        timeout=30,
    )
    assert response.status_code == 400
    assert message in response.json()["error"]
    chat = httpx.post(
        f"{daemon.url}/api/chat",
        json={"model": CATALOG_MODEL, "messages": [{"role": "user", "images": [image]}]},
        timeout=30,
    )
    assert chat.status_code == 400
    assert message.replace("images[0]", "messages[0].images[0]") in chat.json()["error"]


def _upload(daemon: Daemon, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert httpx.post(f"{daemon.url}/api/blobs/{digest}", content=data, timeout=30).is_success
    return digest


@pytest.fixture(scope="module")
def bad_vision_model(daemon: Daemon) -> tuple[str, str]:
    """SmolLM2 created with a second GGUF that says it is a projector but cannot be loaded."""
    base = Store(daemon.models).get(CATALOG_MODEL)
    model_digest = next(
        layer.digest for layer in base.manifest.layers if layer.media_type == MEDIA_MODEL
    )
    projector_digest = _upload(daemon, _fake_projector())
    created = httpx.post(
        f"{daemon.url}/api/create",
        json={
            "model": "smollm2-bad-vision",
            "files": {"model.gguf": model_digest, "mmproj.gguf": projector_digest},
            "stream": False,
        },
        timeout=60,
    )
    assert created.status_code == 200, created.text
    return "smollm2-bad-vision", projector_digest


def test_second_gguf_that_is_a_projector_becomes_a_projector_layer(
    daemon: Daemon, bad_vision_model: tuple[str, str]
) -> None:
    name, projector_digest = bad_vision_model
    model = Store(daemon.models).get(name)
    kinds = [(layer.media_type, layer.digest) for layer in model.manifest.layers]
    assert (MEDIA_PROJECTOR, projector_digest) in kinds
    assert [kind for kind, _ in kinds].count(MEDIA_MODEL) == 1
    show = httpx.post(f"{daemon.url}/api/show", json={"model": name}, timeout=30).json()
    assert "vision" in show["capabilities"]


def test_images_are_marked_in_the_rendered_prompt(
    daemon: Daemon, bad_vision_model: tuple[str, str]
) -> None:
    name, _ = bad_vision_model
    response = httpx.post(
        f"{daemon.url}/api/chat",
        json={
            "model": name,
            "messages": [{"role": "user", "content": "What is this?", "images": [PNG, PNG]}],
            "_debug_render_only": True,
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    info = response.json()["_debug_info"]
    assert "[img-0][img-1]What is this?" in info["rendered_template"]
    assert info["image_count"] == 2


def test_unloadable_projector_fails_the_load_naming_it(
    daemon: Daemon, bad_vision_model: tuple[str, str]
) -> None:
    name, projector_digest = bad_vision_model
    blob = projector_digest.replace(":", "-")
    for path, body in [
        ("/api/chat", {"messages": [{"role": "user", "content": "What?", "images": [PNG]}]}),
        ("/api/generate", {"prompt": "What?", "images": [PNG]}),
    ]:
        response = httpx.post(
            f"{daemon.url}{path}", json={"model": name, "stream": False, **body}, timeout=180
        )
        assert response.status_code == 500, response.text
        error = response.json()["error"]
        assert error.startswith("runner failed to load: error loading model: vision projector ")
        assert blob in error
        assert str(daemon.models) not in error
        assert "cannot evaluate images" not in error
    # A text model keeps refusing images with a 400 that names it.
    refused = httpx.post(
        f"{daemon.url}/api/generate",
        json={"model": CATALOG_MODEL, "prompt": "What?", "images": [PNG], "stream": False},
        timeout=60,
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == f'"{CATALOG_MODEL}" does not support images'


def test_openai_image_part_reaches_the_vision_runner(
    daemon: Daemon, bad_vision_model: tuple[str, str]
) -> None:
    name, projector_digest = bad_vision_model
    response = httpx.post(
        f"{daemon.url}/v1/chat/completions",
        json={
            "model": name,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    ],
                }
            ],
        },
        timeout=180,
    )
    assert response.status_code == 500, response.text
    message = response.json()["error"]["message"]
    assert message.startswith("runner failed to load: error loading model: vision projector ")
    assert projector_digest.replace(":", "-") in message


def _fake_projector() -> bytes:
    return build_gguf(
        {"general.architecture": "clip", "general.type": "mmproj", "general.name": "broken"},
        [TensorSpec("v.patch_embd.weight", 0, (8, 4))],
    )


def test_cli_create_with_two_from_lines_stores_the_projector(
    daemon: Daemon, smollm2_gguf: Path, tmp_path: Path
) -> None:
    projector = tmp_path / "mmproj.gguf"
    projector.write_bytes(_fake_projector())
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(f"FROM {smollm2_gguf}\nFROM ./mmproj.gguf\n")
    created = corral(daemon, "create", "smollm2-cli-vision", "-f", str(modelfile))
    assert created.returncode == 0, created.stderr
    model = Store(daemon.models).get("smollm2-cli-vision")
    media = [layer.media_type for layer in model.manifest.layers]
    assert media.count(MEDIA_MODEL) == 1 and media.count(MEDIA_PROJECTOR) == 1
    # A second FROM that is not a local file is refused before anything is sent.
    modelfile.write_text(f"FROM {smollm2_gguf}\nFROM ./no-such-mmproj.gguf\n")
    refused = corral(daemon, "create", "smollm2-cli-vision2", "-f", str(modelfile))
    assert refused.returncode == 1
    assert b"Error: FROM path './no-such-mmproj.gguf' does not exist" in refused.stderr
    assert not Store(daemon.models).exists("smollm2-cli-vision2")
