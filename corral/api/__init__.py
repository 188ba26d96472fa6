"""Wire types shared by daemon, runner and client: requests, options, field checks."""

from __future__ import annotations

from corral.api.fields import Fields, decode_body
from corral.api.options import (
    DEFAULT_OPTIONS,
    OPTION_TYPES,
    RUNNER_OPTIONS,
    merge_options,
    validate_option,
)
from corral.api.requests import (
    ChatRequest,
    CopyRequest,
    CreateRequest,
    GenerateRequest,
    Message,
    ModelRequest,
    PullRequest,
    ShowRequest,
    parse_chat,
    parse_copy,
    parse_create,
    parse_generate,
    parse_model_request,
    parse_pull,
    parse_show,
)

__all__ = [
    "DEFAULT_OPTIONS",
    "OPTION_TYPES",
    "RUNNER_OPTIONS",
    "ChatRequest",
    "CopyRequest",
    "CreateRequest",
    "Fields",
    "GenerateRequest",
    "Message",
    "ModelRequest",
    "PullRequest",
    "ShowRequest",
    "decode_body",
    "merge_options",
    "parse_chat",
    "parse_copy",
    "parse_create",
    "parse_generate",
    "parse_model_request",
    "parse_pull",
    "parse_show",
    "validate_option",
]
