"""The TUI's part of `<CORRAL_HOME>/config.toml`: key bindings remapped by binding id.

```toml
[tui.keys]
new_chat = "ctrl+n"
models = "f2,ctrl+2"
```

`keymap()` reads it with tomllib; `save_keymap()` writes it back with tomli-w,
keeping every other table of the file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from corral import envconfig
from corral.errors import ConfigError

__all__ = ["config_path", "keymap", "save_keymap", "theme"]


def config_path() -> Path:
    """`<CORRAL_HOME>/config.toml`."""
    return envconfig.home() / "config.toml"


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def keymap(path: Path | None = None, known: set[str] | None = None) -> dict[str, str]:
    """Binding id → keys from `[tui.keys]`; empty when the file or table is absent.

    Raises:
        ConfigError: the file is not TOML, `[tui.keys]` is not a table, a value is not a
            string, or (when `known` is given) an id names no binding.
    """
    path = path or config_path()
    tui = _read(path).get("tui", {})
    keys = tui.get("keys", {}) if isinstance(tui, dict) else None
    if not isinstance(keys, dict):
        raise ConfigError(f'{path}: [tui.keys] must be a table of binding id = "keys"')
    result: dict[str, str] = {}
    for name, value in keys.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: [tui.keys] {name} = {value!r} is not a key string")
        if known is not None and name not in known:
            raise ConfigError(
                f"{path}: [tui.keys] {name!r} is not a binding; known: {', '.join(sorted(known))}"
            )
        result[name] = value.strip()
    return result


def theme(path: Path | None = None) -> str | None:
    """`theme` of `[tui]` (a Textual theme name), or None when unset.

    Raises:
        ConfigError: the file is not TOML or the value is not a string.
    """
    path = path or config_path()
    tui = _read(path).get("tui", {})
    value = tui.get("theme") if isinstance(tui, dict) else None
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{path}: [tui] theme = {value!r} is not a theme name")
    return value


def save_keymap(
    bindings: dict[str, str], path: Path | None = None, theme_name: str | None = None
) -> Path:
    """Write `bindings` as `[tui.keys]` (and `theme_name` as `[tui] theme`), keeping the rest
    of the file; returns the path."""
    path = path or config_path()
    data = _read(path)
    tui = data.setdefault("tui", {})
    if not isinstance(tui, dict):
        raise ConfigError(f"{path}: [tui] must be a table")
    if theme_name:
        tui["theme"] = theme_name
    tui["keys"] = dict(sorted(bindings.items()))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tomli_w.dumps(data))
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
