"""Push from the TUI models screen to the real `corral registry serve` on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from corral.tui.dialogs import PushDialog
from corral.tui.models_screen import ModelsScreen
from tests.integration.conftest import CATALOG_MODEL, Daemon, free_port
from tests.integration.registry_procs import Registries
from tests.integration.tui_helpers import make_app, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def registries(tmp_path: Path) -> Iterator[Registries]:
    started = Registries(tmp_path)
    yield started
    for registry in started.started:
        registry.stop()


async def _copy(daemon: Daemon, name: str) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        copied = await http.post(
            f"{daemon.url}/api/copy", json={"source": CATALOG_MODEL, "destination": name}
        )
    assert copied.status_code == 200, copied.text


async def _delete(daemon: Daemon, name: str) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        await http.request("DELETE", f"{daemon.url}/api/delete", json={"model": name})


async def _get(url: str, method: str = "GET", **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.request(method, url, **kwargs)  # type: ignore[arg-type]


async def test_push_from_the_models_screen_lands_in_the_registry(
    daemon: Daemon, registries: Registries, tmp_path: Path
) -> None:
    registry = registries.serve(tmp_path / "registry")
    name = f"{registry.host}/team/tuipush:v1"
    manifest = f"{registry.url}/v2/team/tuipush/manifests/v1"
    assert (await _get(manifest)).status_code == 404
    await _copy(daemon, name)
    try:
        app = make_app(daemon, tmp_path)
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await pilot.press("f2")
            screen = app.screen
            assert isinstance(screen, ModelsScreen)
            await wait_for(pilot, lambda: name in screen.names)
            table = screen.query_one("#models")
            table.move_cursor(row=screen.names.index(name))  # type: ignore[attr-defined]
            table.focus()
            await pilot.press("u")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, PushDialog)
            assert dialog.query_one("#name").value == name  # type: ignore[attr-defined]
            await pilot.press("tab", "space", "shift+tab", "enter")  # tick insecure, then push
            seen: set[str] = set()

            def finished() -> bool:
                seen.update(screen.progress.bars)
                return screen.pull_status.endswith((": done", ": failed"))

            await wait_for(pilot, finished, steps=20 * 60 * 5)
            messages = [n.message for n in app._notifications]
            assert screen.pull_status == f"{name}: done", messages
            assert f"pushed {name}" in messages
            bars = screen.progress.bars
            assert len(seen) >= 2, "the weights and the config each get a bar"
            assert all(bar.percentage == 1.0 for bar in bars.values())
        accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
        pushed = await _get(manifest, headers=accept)
        assert pushed.status_code == 200, pushed.text
        digests = [layer["digest"] for layer in pushed.json()["layers"]]
        for digest in digests:
            blob = await _get(f"{registry.url}/v2/team/tuipush/blobs/{digest}", "HEAD")
            assert blob.status_code == 200, digest
    finally:
        await _delete(daemon, name)


async def test_push_failures_are_notifications(daemon: Daemon, tmp_path: Path) -> None:
    nowhere = f"127.0.0.1:{free_port()}/team/nowhere:v1"  # nothing listens there
    await _copy(daemon, nowhere)
    try:
        app = make_app(daemon, tmp_path)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await pilot.press("f2")
            screen = app.screen
            assert isinstance(screen, ModelsScreen)
            screen.push(nowhere, insecure=True)
            await wait_for(pilot, lambda: not screen.transferring)
            assert screen.pull_status == f"{nowhere}: failed"
            assert any(
                n.severity == "error" and n.title == f"push {nowhere}" for n in app._notifications
            )
            # Plain HTTP without insecure is refused, naming the model.
            screen.push(f"http://{nowhere}")
            await wait_for(pilot, lambda: not screen.transferring)
            await wait_for(
                pilot, lambda: any("insecure protocol" in n.message for n in app._notifications)
            )
            refused = [n for n in app._notifications if "insecure protocol" in n.message]
            assert refused[0].severity == "error" and nowhere in refused[0].message
            # A model that is not there.
            screen.push("127.0.0.1:1/team/absent:v1", insecure=True)
            await wait_for(pilot, lambda: not screen.transferring)
            await wait_for(
                pilot,
                lambda: any(
                    n.severity == "error" and "absent" in n.message for n in app._notifications
                ),
            )
    finally:
        await _delete(daemon, nowhere)


async def test_esc_cancels_a_push_to_a_registry_that_never_answers(
    daemon: Daemon, tmp_path: Path
) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        name = f"127.0.0.1:{silent.getsockname()[1]}/team/silent:v1"
        await _copy(daemon, name)
        try:
            app = make_app(daemon, tmp_path)
            async with app.run_test(size=(80, 24), notifications=True) as pilot:
                await pilot.press("f2")
                screen = app.screen
                assert isinstance(screen, ModelsScreen)
                screen.query_one("#models").focus()
                screen.push(name, insecure=True)
                await wait_for(pilot, lambda: "retrieving manifest" in screen.pull_status)
                screen.pull("smollm2:135m")  # one transfer at a time
                await wait_for(
                    pilot, lambda: any("is running" in n.message for n in app._notifications)
                )
                assert screen.transferring and "retrieving manifest" in screen.pull_status
                await pilot.press("escape")
                await wait_for(pilot, lambda: not screen.transferring)
                assert screen.pull_status == "transfer canceled"
                assert not any(n.severity == "error" for n in app._notifications)
        finally:
            await _delete(daemon, name)
    # The daemon is still well after the client went away.
    assert (await _get(f"{daemon.url}/api/tags")).status_code == 200
