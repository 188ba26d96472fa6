"""`images` on native requests: validated, and refused by a model without a vision projector."""

from __future__ import annotations

import base64

import httpx
import ollama
import pytest

from tests.integration.conftest import CATALOG_MODEL, Daemon

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
