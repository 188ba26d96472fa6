"""Regenerate the checked-in man pages (`man/`) and completion scripts (`completions/`).

python -m corral.cli.regenerate            # rewrite them in the repository
python -m corral.cli.regenerate --check    # exit 1 when a checked-in file is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from corral.cli._shells import render
from corral.cli.main import cli
from corral.cli.manpages import render_pages

__all__ = ["COMPLETION_FILES", "generated_files", "main"]

COMPLETION_FILES = {"bash": "corral.bash", "zsh": "_corral", "fish": "corral.fish"}
"""Where each shell's script lives under `completions/`."""


def generated_files() -> dict[str, str]:
    """Every generated file, by its path relative to the repository root."""
    files = {f"man/{name}": text for name, text in render_pages(cli).items()}
    for shell, name in COMPLETION_FILES.items():
        files[f"completions/{name}"] = render(shell, cli)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m corral.cli.regenerate")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    stale = []
    for relative, text in generated_files().items():
        path = args.root / relative
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(relative)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for directory in ("man", "completions"):
        expected = {Path(r).name for r in generated_files() if r.startswith(directory + "/")}
        folder = args.root / directory
        extra = (
            sorted(p.name for p in folder.iterdir() if p.name not in expected)
            if folder.is_dir()
            else []
        )
        stale += [f"{directory}/{name} (not generated any more)" for name in extra]
    if stale and args.check:
        print("stale generated files (run python -m corral.cli.regenerate):", *stale, sep="\n  ")
        return 1
    for name in stale:
        print(f"wrote {name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
