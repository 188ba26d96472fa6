"""`GET /api/system` and the TUI system panel, against a real daemon with SmolLM2 loaded."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from textual.widgets import Label

from corral.gpu import probe
from corral.tui.system_screen import NO_GPU, SystemScreen
from tests.integration.conftest import CATALOG_MODEL, Daemon
from tests.integration.tui_helpers import make_app, wait_for

pytestmark = pytest.mark.integration


def test_api_system_reports_memory_cpu_and_gpus(daemon: Daemon) -> None:
    response = httpx.get(f"{daemon.url}/api/system", timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["memory"]["total"] > body["memory"]["available"] > 0
    assert body["cpu"]["count"] >= 1
    percent = body["cpu"]["percent"]
    assert percent is None or 0 <= percent <= 100
    assert len(body["gpus"]) == len(probe().gpus)
    for gpu in body["gpus"]:
        assert gpu["vram_total"] >= gpu["vram_used"] >= 0
        assert gpu["name"]


def test_api_system_refuses_other_methods(daemon: Daemon) -> None:
    response = httpx.post(f"{daemon.url}/api/system", json={}, timeout=30)
    assert response.status_code == 405


async def test_system_panel_shows_loaded_model_countdown_and_unloads(
    daemon: Daemon, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(timeout=120) as http:
        loaded = await http.post(
            f"{daemon.url}/api/generate",
            json={"model": CATALOG_MODEL, "keep_alive": "10m", "stream": False},
        )
        loaded.raise_for_status()
    app = make_app(daemon, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f3")
        screen = app.screen
        assert isinstance(screen, SystemScreen)
        await wait_for(pilot, lambda: any(m["name"] == CATALOG_MODEL for m in screen.loaded))
        assert re.fullmatch(r"(10m 00s|9m \d\ds)", screen.countdown_of(CATALOG_MODEL))
        assert screen.gpu_count == len(probe().gpus)
        if screen.gpu_count == 0:
            assert str(screen.query_one("#no-gpu", Label).content) == NO_GPU
        host = str(screen.query_one("#host-text", Label).content)
        assert host.startswith("RAM ") and "cores" in host
        screen.query_one("#loaded").focus()
        await pilot.press("u")
        await wait_for(pilot, lambda: not screen.loaded)
    async with httpx.AsyncClient(timeout=30) as http:
        ps = (await http.get(f"{daemon.url}/api/ps")).json()
    assert all(m["name"] != CATALOG_MODEL for m in ps["models"])


def test_api_system_fit_names_the_context_and_the_memory(daemon: Daemon) -> None:
    def fit(**query: object) -> httpx.Response:
        return httpx.get(f"{daemon.url}/api/system", params=query, timeout=30)

    default = fit(model=CATALOG_MODEL).json()["fit"]
    assert default["model"] == CATALOG_MODEL
    assert default["num_ctx"] == 4096  # CORRAL_CONTEXT_LENGTH unset: the default
    assert default["required"] == default["weights"] + default["kv_cache"] + default["compute"]
    small = fit(model=CATALOG_MODEL, num_ctx=1024).json()["fit"]
    assert small["num_ctx"] == 1024
    assert small["kv_cache"] < default["kv_cache"]
    assert small["weights"] == default["weights"]
    capped = fit(model=CATALOG_MODEL, num_ctx=10_000_000).json()["fit"]
    assert capped["num_ctx"] == capped["trained_context"] > 0  # capped at what it was trained for
    assert "fit" not in fit().json()
    bad = fit(model=CATALOG_MODEL, num_ctx="lots")
    assert bad.status_code == 400
    assert "'lots'" in bad.json()["error"]
    missing = fit(model="no-such-model")
    assert missing.status_code == 404
    assert "no-such-model" in missing.json()["error"]


def test_api_system_fit_follows_the_daemon_default_context(
    make_daemon: Callable[..., Daemon], seeded_models: tuple[Path, object]
) -> None:
    other = make_daemon(seeded_models[0], CORRAL_CONTEXT_LENGTH="2048")
    response = httpx.get(f"{other.url}/api/system", params={"model": CATALOG_MODEL}, timeout=30)
    assert response.json()["fit"]["num_ctx"] == 2048
