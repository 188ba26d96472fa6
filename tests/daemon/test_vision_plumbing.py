"""Daemon side of images: `[img-N]` markers in prompts, the runner spec and payload."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from corral.api import parse_chat, parse_generate
from corral.daemon.modelinfo import ModelFacts
from corral.daemon.prompts import mark_images, render_chat, render_generate
from corral.daemon.routes_generate import runner_payload
from corral.daemon.runners import RunnerSpec
from corral.names import ModelName
from corral.store import Layer, StoredModel
from corral.store.manifests import Manifest

TEMPLATE = "{{ range .Messages }}<{{ .Role }}>{{ .Content }}\n{{ end }}"
OPTIONS = {
    "num_predict": 8,
    "temperature": 0.0,
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repeat_last_n": 64,
    "repeat_penalty": 1.1,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "seed": 1,
    "num_keep": 4,
}


def _facts(template: str | None = TEMPLATE) -> ModelFacts:
    config = Layer("application/vnd.docker.container.image.v1+json", "sha256:" + "0" * 64, 2)
    model = StoredModel(
        name=ModelName.parse("vision-test"),
        manifest=Manifest(config=config, layers=()),
        digest="0" * 64,
        modified_at=datetime.now(UTC),
        size=0,
        config={},
        model_path=Path("/models/blobs/sha256-model"),
        adapters=(),
        projectors=(Path("/models/blobs/sha256-proj"),),
        template=template,
        system=None,
        params={},
        messages=[],
        license=(),
    )
    return ModelFacts(model, None)


def test_markers_prefix_content_and_number_across_messages() -> None:
    messages = [
        {"role": "user", "content": "first", "images": ["A", "B"]},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "and this?", "images": ["C"]},
    ]
    assert mark_images(messages) == ["A", "B", "C"]
    assert [m["content"] for m in messages] == ["[img-0][img-1]first", "ok", "[img-2]and this?"]


def test_img_placeholders_are_replaced_in_order() -> None:
    messages = [{"role": "user", "content": "left [img] right [img] done", "images": ["A", "B"]}]
    assert mark_images(messages) == ["A", "B"]
    assert messages[0]["content"] == "left [img-0] right [img-1] done"


def test_no_images_leaves_content_alone() -> None:
    messages = [{"role": "user", "content": "a [img] stays"}]
    assert mark_images(messages) == []
    assert messages[0]["content"] == "a [img] stays"


def test_chat_render_carries_markers_and_images() -> None:
    req = parse_chat(
        {
            "model": "vision-test",
            "messages": [
                {"role": "user", "content": "What is it?", "images": ["iVBORw0KGgo="]},
                {"role": "assistant", "content": "A dot."},
                {"role": "user", "content": "Compare [img] with the first.", "images": ["UklG"]},
            ],
        }
    )
    prompt, images = render_chat(_facts(), req)
    assert prompt == (
        "<user>[img-0]What is it?\n<assistant>A dot.\n<user>Compare [img-1] with the first.\n"
    )
    assert images == ["iVBORw0KGgo=", "UklG"]


def test_generate_render_puts_images_on_the_user_message() -> None:
    req = parse_generate(
        {"model": "vision-test", "prompt": "Describe.", "images": ["iVBORw0KGgo="]}
    )
    prompt, images = render_generate(_facts(), req)
    assert prompt == "<user>[img-0]Describe.\n"
    assert images == ["iVBORw0KGgo="]
    raw = parse_generate(
        {"model": "vision-test", "prompt": "[img-0] raw", "raw": True, "images": ["iVBORw0KGgo="]}
    )
    assert render_generate(_facts(), raw) == ("[img-0] raw", ["iVBORw0KGgo="])


def test_payload_carries_images_only_when_there_are_some() -> None:
    with_images = runner_payload("[img-0]hi", OPTIONS, None, images=["iVBORw0KGgo="])
    assert with_images["images"] == ["iVBORw0KGgo="]
    assert with_images["prompt"] == "[img-0]hi"
    assert "images" not in runner_payload("hi", OPTIONS, None)


def test_spec_with_projector_passes_mmproj_and_is_its_own_runner() -> None:
    plain = RunnerSpec(model_path=Path("/m/model"), num_ctx=2048)
    vision = RunnerSpec(model_path=Path("/m/model"), num_ctx=2048, projector=Path("/m/proj"))
    args = vision.args(Path("s"))
    assert args[args.index("--mmproj") + 1] == "/m/proj"
    assert "--mmproj" not in plain.args(Path("s"))
    assert not plain.serves(vision) and not vision.serves(plain)
    assert vision.serves(
        RunnerSpec(model_path=Path("/m/model"), num_ctx=2048, projector=Path("/m/proj"))
    )
