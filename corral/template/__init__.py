"""Prompt templates: Go `text/template` (Ollama Modelfile TEMPLATEs) and Jinja chat templates.

* `corral.template.gotmpl`: the Go template engine (lexer, parser, executor, builtins).
* `corral.template.ollama`: Ollama's prompt rendering on top of it (`render_prompt`, `Message`,
  capability detection from the variables a template uses).
* `corral.template.jinja`, `corral.template.autodetect`: GGUF Jinja templates and picking a Go
  template for them (see those modules).
"""

from __future__ import annotations

from corral.template.gotmpl import Limits, Template
from corral.template.ollama import (
    DEFAULT_TEMPLATE,
    Message,
    OllamaTemplate,
    parse_template,
    render_prompt,
    template_variables,
    thinking_tags,
)

# --- Jinja / autodetect exports (owned by the Jinja engineer; add their names here) -----------
# from corral.template.jinja import ...
# from corral.template.autodetect import ...
# ------------------------------------------------------------------------------------------------

__all__ = [
    "DEFAULT_TEMPLATE",
    "Limits",
    "Message",
    "OllamaTemplate",
    "Template",
    "parse_template",
    "render_prompt",
    "template_variables",
    "thinking_tags",
]
