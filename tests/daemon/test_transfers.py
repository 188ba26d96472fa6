"""Which pulls go to the offline catalog and which to a registry."""

from __future__ import annotations

import pytest

from corral.daemon.catalog import find_entry
from corral.daemon.transfers import names_host
from corral.names import ModelName


@pytest.mark.parametrize(
    ("text", "catalog"),
    [
        ("smollm2:135m", True),
        ("library/smollm2:135m", True),
        ("registry.ollama.ai/library/smollm2:135m", False),
        ("https://registry.ollama.ai/library/smollm2:135m", False),
        ("127.0.0.1:5000/team/smol:v1", False),
        ("llama3.2", False),
    ],
)
def test_catalog_names_without_a_host_come_from_the_catalog(text: str, catalog: bool) -> None:
    entry = None if names_host(text) else find_entry(ModelName.parse(text))
    assert (entry is not None) is catalog
