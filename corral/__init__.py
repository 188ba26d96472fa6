"""corral: run large language models locally, served over Ollama's API."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
