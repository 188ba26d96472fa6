"""Pure helpers of the TUI: formatting and the `[tui.keys]` config table."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from corral.errors import ConfigError
from corral.tui.clipboard import system_copy_command
from corral.tui.config import keymap, save_keymap, theme
from corral.tui.format import answer_usage, countdown, human_size

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_human_size() -> None:
    assert human_size(512) == "512 B"
    assert human_size(98_362_432) == "98 MB"
    assert human_size(1_200_000_000) == "1.2 GB"


@pytest.mark.parametrize(
    ("expires", "text"),
    [
        ("2026-01-01T12:04:59Z", "4m 59s"),
        ("2026-01-01T12:00:09+00:00", "9s"),
        ("2026-01-01T14:30:00Z", "2h 30m"),
        ("2026-01-01T11:59:00Z", "unloading"),
        ("2318-01-01T00:00:00Z", "forever"),
        ("not a time", "?"),
    ],
)
def test_countdown(expires: str, text: str) -> None:
    assert countdown(expires, NOW) == text


def test_answer_usage() -> None:
    final = {"prompt_eval_count": 12, "eval_count": 40, "eval_duration": 800_000_000}
    assert answer_usage(final) == "12 in · 40 out · 50.0 tok/s"
    assert answer_usage({"eval_count": 0}) == "0 in · 0 out"


def test_keymap_round_trip_keeps_other_tables(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[other]\nx = 1\n[tui.keys]\nnew_chat = "ctrl+t"\n')
    assert keymap(path) == {"new_chat": "ctrl+t"}
    save_keymap({"new_chat": "ctrl+y", "models": "f2,ctrl+2"}, path)
    assert keymap(path) == {"models": "f2,ctrl+2", "new_chat": "ctrl+y"}
    assert "[other]" in path.read_text()


def test_keymap_absent_file_is_empty(tmp_path: Path) -> None:
    assert keymap(tmp_path / "none.toml") == {}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[tui.keys\n", "cannot read"),
        ('[tui]\nkeys = "ctrl+n"\n', "must be a table"),
        ("[tui.keys]\nnew_chat = 3\n", "new_chat = 3 is not a key string"),
        ('[tui.keys]\nnope = "ctrl+n"\n', "'nope' is not a binding"),
    ],
)
def test_keymap_bad_config_names_the_bad_value(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"config\.toml") as caught:
        keymap(path, known={"new_chat"})
    assert fragment in str(caught.value)


def test_theme_from_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert theme(path) is None
    path.write_text('[tui]\ntheme = "nord"\n')
    assert theme(path) == "nord"
    path.write_text("[tui]\ntheme = 3\n")
    with pytest.raises(ConfigError, match="theme = 3"):
        theme(path)


def test_save_keymap_with_theme(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    save_keymap({"new_chat": "ctrl+t"}, path, theme_name="nord")
    assert theme(path) == "nord"
    assert keymap(path) == {"new_chat": "ctrl+t"}


def test_system_copy_command_picks_the_first_tool_present() -> None:
    present = {"xsel": "/usr/bin/xsel", "pbcopy": "/usr/bin/pbcopy"}
    assert system_copy_command(present.get) == ["/usr/bin/xsel", "--clipboard", "--input"]
    assert system_copy_command(lambda name: None) is None
