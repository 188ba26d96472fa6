"""The runner subprocess: one model, served over loopback HTTP (`python -m corral.runner`).

This package is the only place that imports `llama_cpp`, and only its `engine` and
`model` modules do. The daemon never imports it; it starts it as a subprocess.
"""

from __future__ import annotations

__all__: list[str] = []
