"""The `/api/create` fields for a Modelfile written in the editor (FROM names a model).

Local files (FROM ./model.gguf, ADAPTER) need hashing and an upload, which
`corral create -f` does; the editor refuses them with a message saying so.
"""

from __future__ import annotations

from typing import Any

from corral.errors import ModelfileError
from corral.modelfile import Modelfile

__all__ = ["create_fields"]

_PATH_PREFIXES = ("/", "./", "../", "~", ".\\", "..\\")


def create_fields(modelfile: Modelfile) -> dict[str, Any]:
    """Keyword fields for `AsyncClient.create`.

    Raises:
        ModelfileError: no FROM, or FROM/ADAPTER names a local file.
    """
    source = modelfile.from_
    if not source:
        raise ModelfileError("no FROM line; name the model to build on")
    if source.startswith(_PATH_PREFIXES) or source.lower().endswith(".gguf"):
        raise ModelfileError(
            f"FROM {source!r} is a local file; create it with `corral create NAME -f Modelfile`"
        )
    if modelfile.adapters:
        raise ModelfileError("ADAPTER needs an upload; create it with `corral create -f`")
    fields: dict[str, Any] = {"from_": source}
    for key in ("template", "system", "requires", "renderer", "parser"):
        value = getattr(modelfile, key)
        if value is not None:
            fields[key] = value
    if modelfile.parameters:
        fields["parameters"] = dict(modelfile.parameters)
    if modelfile.messages:
        fields["messages"] = [{"role": r, "content": c} for r, c in modelfile.messages]
    if modelfile.licenses:
        fields["license"] = list(modelfile.licenses)
    return fields
