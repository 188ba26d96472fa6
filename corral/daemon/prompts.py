"""Turning a chat or generate request into the prompt text a runner evaluates.

A model's Go TEMPLATE layer wins; without one, the GGUF's Jinja chat template
is rendered in a sandbox; without either, messages are joined plainly.

Images stand in the prompt as Ollama writes them: each message's pictures are numbered
across the conversation, and `[img-N]` replaces the message's `[img]` placeholders in
order, or goes in front of its content; the runner puts each picture where its marker is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.api import ChatRequest, GenerateRequest, Message
from corral.daemon.modelinfo import ModelFacts
from corral.template import render_jinja, render_prompt

__all__ = ["chat_messages", "mark_images", "render_chat", "render_generate"]


def mark_images(messages: list[dict[str, Any]]) -> list[str]:
    """Write `[img-N]` markers into the contents of messages with images (in place).

    Returns the images in marker order, as Ollama's `chatPrompt` numbers them.
    """
    images: list[str] = []
    for message in messages:
        pictures = message.get("images") or []
        content = str(message.get("content", ""))
        prefix = ""
        for picture in pictures:
            tag = f"[img-{len(images)}]"
            images.append(picture)
            if "[img]" in content:
                content = content.replace("[img]", tag, 1)
            else:
                prefix += tag
        if pictures:
            message["content"] = prefix + content
    return images


def chat_messages(facts: ModelFacts, messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Request messages with the Modelfile's MESSAGEs and SYSTEM put in front, as Ollama does."""
    result = [dict(m) for m in facts.model.messages]
    result += [m.to_dict() for m in messages]
    system = facts.model.system
    if system and not (messages and messages[0].role == "system"):
        result.insert(0, {"role": "system", "content": system})
    return result


def _render(
    facts: ModelFacts,
    messages: list[dict[str, Any]],
    *,
    tools: Sequence[dict[str, Any]] = (),
    think: bool | str | None = None,
    template: str | None = None,
    suffix: str | None = None,
) -> str:
    go_template = template if template is not None else facts.model.template
    if go_template is not None:
        return render_prompt(
            go_template, messages, tools=list(tools) or None, think=think, suffix=suffix
        )
    gguf = facts.gguf
    if gguf is not None and gguf.chat_template:
        bos = gguf.bos_token or ""
        extra: dict[str, Any] = {}
        if think is not None:
            extra["enable_thinking"] = bool(think)
        # A template that writes BOS itself is fine: the runner collapses a doubled BOS.
        return render_jinja(
            gguf.chat_template,
            messages,
            bos_token=bos,
            eos_token=gguf.eos_token or "",
            tools=list(tools) or None,
            extra=extra,
        )
    return "".join(f"{m.get('content', '')}\n" for m in messages)


def render_chat(facts: ModelFacts, request: ChatRequest) -> tuple[str, list[str]]:
    """The prompt and the images its `[img-N]` markers refer to, in order."""
    messages = chat_messages(facts, request.messages)
    images = mark_images(messages)
    return _render(facts, messages, tools=request.tools, think=request.think), images


def render_generate(facts: ModelFacts, request: GenerateRequest) -> tuple[str, list[str]]:
    """The prompt and its images (see `render_chat`); a raw prompt keeps its own markers."""
    if request.raw:
        return request.prompt, list(request.images)
    messages: list[dict[str, Any]] = []
    if not request.context:
        messages += [dict(m) for m in facts.model.messages]
    system = request.system if request.system is not None else facts.model.system
    if system:
        messages.insert(0, {"role": "system", "content": system})
    user: dict[str, Any] = {"role": "user", "content": request.prompt}
    if request.images:
        user["images"] = list(request.images)
    messages.append(user)
    images = mark_images(messages)
    prompt = _render(
        facts,
        messages,
        think=request.think,
        template=request.template,
        suffix=request.suffix or None,
    )
    return prompt, images
