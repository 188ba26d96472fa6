"""What the daemon knows about a stored model: GGUF facts, details, capabilities.

GGUF headers are read once per blob (in a thread) and cached by digest path.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.errors import UnsupportedCapability
from corral.gguf import GGUFInfo, read_gguf
from corral.store import StoredModel
from corral.template import template_variables

__all__ = ["EMBEDDING_ARCHITECTURES", "ModelFacts", "ModelInfoCache"]

EMBEDDING_ARCHITECTURES = frozenset(
    {"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "t5encoder"}
)


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """A stored model together with its GGUF header."""

    model: StoredModel
    gguf: GGUFInfo | None

    @property
    def display_name(self) -> str:
        return self.model.name.display

    @property
    def family(self) -> str:
        value = self.model.config.get("model_family") or (
            self.gguf.architecture if self.gguf else ""
        )
        return str(value)

    def details(self) -> dict[str, Any]:
        config = self.model.config
        family = self.family
        families = config.get("model_families") or ([family] if family else None)
        return {
            "parent_model": "",
            "format": config.get("model_format", "gguf"),
            "family": family,
            "families": families,
            "parameter_size": config.get("model_type")
            or (self.gguf.parameter_size if self.gguf else ""),
            "quantization_level": config.get("file_type")
            or (self.gguf.file_type if self.gguf else ""),
        }

    @property
    def is_embedding(self) -> bool:
        return bool(self.gguf and self.gguf.architecture in EMBEDDING_ARCHITECTURES)

    def capabilities(self) -> list[str]:
        if self.model.model_path is None:
            return []
        if self.is_embedding:
            return ["embedding"]
        caps = ["completion"]
        if self.model.template is not None:
            used = template_variables(self.model.template)
            tools, insert, thinking = "Tools" in used, "Suffix" in used, "Think" in used
        else:
            jinja = self.gguf.chat_template if self.gguf else None
            tools = bool(jinja and re.search(r"\btools\b", jinja))
            insert = False
            thinking = bool(jinja and ("enable_thinking" in jinja or "<think>" in jinja))
        if tools:
            caps.append("tools")
        if insert:
            caps.append("insert")
        if self.model.projectors:
            caps.append("vision")
        if thinking:
            caps.append("thinking")
        return caps

    def require(self, capability: str, verb: str) -> None:
        """Raise the 400 Ollama gives when the model lacks `capability`."""
        if capability not in self.capabilities():
            if capability in {"tools", "insert", "thinking"}:
                raise UnsupportedCapability(f"{self.model.name.full} does not support {verb}")
            raise UnsupportedCapability(f'"{self.display_name}" does not support {verb}')

    @property
    def context_length(self) -> int | None:
        return self.gguf.context_length if self.gguf else None


class ModelInfoCache:
    """GGUF headers by blob path, read in a thread the first time they are needed."""

    def __init__(self) -> None:
        self._cache: dict[Path, GGUFInfo] = {}

    async def gguf(self, path: Path) -> GGUFInfo:
        info = self._cache.get(path)
        if info is None:
            info = await asyncio.to_thread(read_gguf, path)
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[path] = info
        return info

    async def facts(self, model: StoredModel) -> ModelFacts:
        info = await self.gguf(model.model_path) if model.model_path is not None else None
        return ModelFacts(model, info)
