"""Images in the runner: the `images` field, `[img-N]` markers, and loading `--mmproj`.

No small vision model is available to these tests, so the multimodal evaluation itself
is not exercised; what is: the request parsing, the marker translation against the real
mtmd library, a text-only runner refusing images, and a projector llama.cpp cannot load
failing the runner's load with one clear line.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from llama_cpp import mtmd_cpp

from corral.errors import InvalidRequest
from corral.runner.config import parse_args
from corral.runner.params import parse_completion
from corral.runner.vision import image_order
from tests.runner.test_server import CHATML, REPO_ROOT, Runner, free_port, runner_argv

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
MARKER = mtmd_cpp.mtmd_default_marker().decode()


def test_images_are_decoded_from_base64() -> None:
    req = parse_completion({"prompt": "[img-0] what?", "images": [base64.b64encode(PNG).decode()]})
    assert req.images == (PNG,)
    assert parse_completion({"prompt": "hi"}).images == ()


@pytest.mark.parametrize(
    ("images", "message"),
    [
        ("abc", 'field "images" must be a list of base64 strings'),
        ([7], 'field "images[0]" must be a base64 string'),
        (["aGk=", "not base64!"], 'field "images[1]" is not valid base64'),
        ([""], 'field "images[0]" is empty'),
    ],
)
def test_bad_images_field(images: object, message: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_completion({"prompt": "hi", "images": images})
    assert message in str(err.value)


def test_mmproj_argument() -> None:
    config = parse_args(["--model", "m.gguf", "--port", "1", "--mmproj", "p.gguf"])
    assert config.mmproj == Path("p.gguf")
    assert parse_args(["--model", "m.gguf", "--port", "1"]).mmproj is None


def test_markers_become_media_markers_in_order() -> None:
    text, order = image_order("[img-1] and [img-0]: compare", 2)
    assert text == f"{MARKER} and {MARKER}: compare"
    assert order == [1, 0]
    # An image no marker names is left out, as Ollama's runner leaves it.
    text, order = image_order("[img-0] only", 3)
    assert order == [0] and text == f"{MARKER} only"
    assert image_order("no pictures", 0) == ("no pictures", [])


def test_marker_naming_a_missing_image_is_refused() -> None:
    with pytest.raises(InvalidRequest) as err:
        image_order("[img-2] what?", 1)
    assert str(err.value) == "the prompt refers to image [img-2], but the request has 1 image"


def test_text_runner_refuses_images(smollm2_gguf: Path) -> None:
    r = Runner(smollm2_gguf, "--ctx-size", "512", "--parent-pid", str(os.getpid()))
    try:
        r.wait_ready()
        body = {
            "prompt": CHATML.format("[img-0] what is this?"),
            "images": [base64.b64encode(PNG).decode()],
            "n_predict": 4,
        }
        response = httpx.post(r.url + "/completion", json=body, timeout=60)
        assert response.status_code == 400
        assert "not started with --mmproj" in response.json()["error"]
        # The runner keeps serving text.
        ok = httpx.post(
            r.url + "/completion",
            json={"prompt": CHATML.format("hi"), "n_predict": 2, "temperature": 0},
            timeout=60,
        )
        assert ok.status_code == 200
    finally:
        r.stop()


def _load_failure(model: Path, mmproj: Path) -> str:
    proc = subprocess.run(
        runner_argv(model, free_port(), "--ctx-size", "512", "--mmproj", str(mmproj)),
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=180,
    )
    assert proc.returncode == 1, proc.stderr.decode()[-2000:]
    return proc.stderr.decode().strip().splitlines()[-1]


def test_garbage_projector_fails_the_load(smollm2_gguf: Path, tmp_path: Path) -> None:
    bad = tmp_path / "mmproj.gguf"
    bad.write_bytes(b"this is not a GGUF file" * 10)
    last = _load_failure(smollm2_gguf, bad)
    assert last.startswith(f"error loading model: vision projector {bad}: ")


def test_text_model_as_projector_fails_the_load(smollm2_gguf: Path) -> None:
    last = _load_failure(smollm2_gguf, smollm2_gguf)
    assert last.startswith(f"error loading model: vision projector {smollm2_gguf}: ")


def test_missing_projector_fails_the_load(smollm2_gguf: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing-mmproj.gguf"
    last = _load_failure(smollm2_gguf, missing)
    assert last == f"error loading model: vision projector {missing}: no such file"
