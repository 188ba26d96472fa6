"""The TUI Modelfile editor: live validation marks the bad line; create uploads and streams."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from rich.style import Style
from textual.widgets import Input

from corral.tui.dialogs import NameDialog
from corral.tui.diff_view import DiffView
from corral.tui.editor_screen import EditorScreen
from corral.tui.models_screen import ModelsScreen
from tests.integration.conftest import CATALOG_MODEL, Daemon
from tests.integration.tui_helpers import make_app, wait_for
from tests.lora_fixture import write_lora_adapter

pytestmark = pytest.mark.integration


def _line_has_error_mark(screen: EditorScreen, y: int) -> bool:
    strip = screen.area._render_line(y)
    return any(
        isinstance(s.style, Style)
        and s.style.bgcolor is not None
        and s.style.bgcolor.name == "#5f1f1f"
        for s in strip
    )


async def test_invalid_line_is_marked_then_fixed_and_created(
    daemon: Daemon, tmp_path: Path
) -> None:
    app = make_app(daemon, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        screen = app.screen
        assert isinstance(screen, EditorScreen)
        assert screen.problem == ""
        screen.area.load_text("")
        await pilot.press(*f"FROM {CATALOG_MODEL}", "enter", *"BOGUS thing")
        await pilot.pause()
        assert screen.area.error_line == 2
        assert screen.problem.startswith("line 2:") and "BOGUS" in screen.problem.upper()
        assert _line_has_error_mark(screen, 1)
        assert not _line_has_error_mark(screen, 0)
        # Creating now is refused and sends nothing.
        screen.query_one("#name").value = "tui-made"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert screen.create_status == ""
        # Fix the line: the mark goes away.
        await pilot.press(*["backspace"] * len("BOGUS thing"), *"PARAMETER temperature 0.1")
        await pilot.pause()
        assert screen.area.error_line is None and screen.problem == ""
        assert not _line_has_error_mark(screen, 1)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.create_status.endswith(("success", "failed")))
        assert screen.create_status == "tui-made: success"
        await pilot.press("f2")
        models = app.screen
        assert isinstance(models, ModelsScreen)
        await wait_for(pilot, lambda: "tui-made:latest" in models.names)
    async with httpx.AsyncClient(timeout=30) as http:
        shown = (await http.post(f"{daemon.url}/api/show", json={"model": "tui-made"})).json()
        assert "temperature" in shown["parameters"]
        await http.request("DELETE", f"{daemon.url}/api/delete", json={"model": "tui-made"})


async def test_edit_from_models_screen_loads_its_modelfile(daemon: Daemon, tmp_path: Path) -> None:
    app = make_app(daemon, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        models = app.screen
        assert isinstance(models, ModelsScreen)
        await wait_for(pilot, lambda: CATALOG_MODEL in models.names)
        table = models.query_one("#models")
        table.move_cursor(row=models.names.index(CATALOG_MODEL))  # type: ignore[attr-defined]
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EditorScreen))
        editor = app.screen
        assert isinstance(editor, EditorScreen)
        await wait_for(pilot, lambda: editor.origin is not None)
        assert "FROM " in editor.area.text and "TEMPLATE" in editor.area.text
        assert editor.problem == ""
        assert editor.query_one("#name").value == "smollm2-custom"  # type: ignore[attr-defined]
        editor.area.load_text(editor.area.text + "PARAMETER temperature 0.3\n")
        await pilot.press("f5")
        await pilot.pause()
        diff = app.screen
        assert isinstance(diff, DiffView)
        assert "+PARAMETER temperature 0.3" in diff.diff
        assert not any(
            line.startswith("-") and not line.startswith("---") for line in diff.diff.splitlines()
        )
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is editor


async def test_local_gguf_and_adapter_from_an_opened_modelfile_are_uploaded(
    make_daemon: Callable[..., Daemon], smollm2_gguf: Path, tmp_path: Path
) -> None:
    daemon = make_daemon()  # an empty store, so the blob really is uploaded
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copyfile(smollm2_gguf, folder / "copy.gguf")
    write_lora_adapter(smollm2_gguf, folder / "lora.gguf")
    (folder / "Modelfile").write_text(
        "FROM ./copy.gguf\nADAPTER lora.gguf\nPARAMETER temperature 0.4\n"
    )
    app = make_app(daemon, tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("f4")
        screen = app.screen
        assert isinstance(screen, EditorScreen)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, NameDialog))
        app.screen.query_one("#name", Input).value = str(folder / "Modelfile")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "copy.gguf" in screen.area.text)
        assert screen.base_dir == folder.resolve() and screen.problem == ""
        seen: list[str] = []
        status = screen._status
        screen._status = lambda text: (seen.append(text), status(text))  # type: ignore[method-assign]
        screen.query_one("#name", Input).value = "from-file"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.create_status.endswith(("success", "failed")))
        assert screen.create_status == "from-file: success", app._notifications
        assert any(text.startswith("from-file: hashing copy.gguf") for text in seen)
        assert any(text.startswith("from-file: hashing lora.gguf") for text in seen)
        assert any(text.startswith("from-file: copying file sha256:") for text in seen)
        await pilot.press("f2")
        models = app.screen
        assert isinstance(models, ModelsScreen)
        await wait_for(pilot, lambda: "from-file:latest" in models.names)
    async with httpx.AsyncClient(timeout=30) as http:
        tags = (await http.get(f"{daemon.url}/api/tags")).json()
        assert "from-file:latest" in [m["name"] for m in tags["models"]]
        shown = (await http.post(f"{daemon.url}/api/show", json={"model": "from-file"})).json()
        assert "temperature" in shown["parameters"]
        assert "ADAPTER " in shown["modelfile"]


async def test_missing_local_file_is_marked_on_its_line(daemon: Daemon, tmp_path: Path) -> None:
    app = make_app(daemon, tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("f4")
        screen = app.screen
        assert isinstance(screen, EditorScreen)
        screen.load("# weights beside me\nFROM ./weights.gguf\n", "local-one", base_dir=tmp_path)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.create_status.endswith("failed"))
        assert screen.area.error_line == 2
        assert screen.problem == "line 2: FROM path './weights.gguf' does not exist"
        assert any("does not exist" in n.message for n in app._notifications)
    async with httpx.AsyncClient(timeout=30) as http:
        tags = (await http.get(f"{daemon.url}/api/tags")).json()
        assert "local-one:latest" not in [m["name"] for m in tags["models"]]
