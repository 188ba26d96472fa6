"""Prompt templates: Go `text/template` (Ollama Modelfile TEMPLATEs) and Jinja chat templates.

* `corral.template.gotmpl`: the Go template engine (lexer, parser, executor, builtins).
* `corral.template.ollama`: Ollama's prompt rendering on top of it (`render_prompt`, `Message`,
  capability detection from the variables a template uses); `corral.template.ollama_values`
  holds the message and tool structs templates see.
* `corral.template.jinja`, `corral.template.autodetect`: GGUF Jinja templates and picking a Go
  template for them (see those modules).
"""

from __future__ import annotations

from corral.template.autodetect import (
    NamedTemplate,
    detect_template,
    named_template,
    template_names,
)
from corral.template.gotmpl import Limits, Template
from corral.template.jinja import render_jinja
from corral.template.ollama import (
    DEFAULT_TEMPLATE,
    Message,
    OllamaTemplate,
    parse_template,
    render_prompt,
    template_variables,
    thinking_tags,
)

__all__ = [
    "DEFAULT_TEMPLATE",
    "Limits",
    "Message",
    "NamedTemplate",
    "OllamaTemplate",
    "Template",
    "detect_template",
    "named_template",
    "parse_template",
    "render_jinja",
    "render_prompt",
    "template_names",
    "template_variables",
    "thinking_tags",
]
