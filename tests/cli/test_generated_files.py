"""The checked-in man pages and completion scripts: fresh, well-formed, working in shells."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from corral.cli.regenerate import generated_files, main

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_files_are_not_stale() -> None:
    stale = [
        name
        for name, text in generated_files().items()
        if not (ROOT / name).is_file() or (ROOT / name).read_text() != text
    ]
    assert not stale, f"regenerate with `python -m corral.cli.regenerate`: {stale}"
    assert main(["--root", str(ROOT), "--check"]) == 0


def test_check_reports_a_stale_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", str(tmp_path)]) == 0  # writes everything
    (tmp_path / "man" / "corral-run.1").write_text("old\n")
    (tmp_path / "man" / "corral-gone.1").write_text("old\n")
    assert main(["--root", str(tmp_path), "--check"]) == 1
    out = capsys.readouterr().out
    assert "man/corral-run.1" in out and "corral-gone.1 (not generated any more)" in out


def test_one_page_per_command_with_environment_and_examples() -> None:
    pages = {p.name for p in (ROOT / "man").iterdir()}
    for name in ("corral.1", "corral-run.1", "corral-list.1", "corral-completion.1"):
        assert name in pages
    assert "corral-ls.1" not in pages  # an alias shares its command's page
    run = (ROOT / "man" / "corral-run.1").read_text()
    for needle in (
        ".SH ENVIRONMENT",
        "CORRAL_HOST",
        "CORRAL_NOHISTORY",
        ".SH EXAMPLES",
        "\\-\\-resume",
        ".SH EXIT STATUS",
    ):
        assert needle in run


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed")
@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "man").glob("*.1")))
def test_man_page_renders_without_warnings(page: str) -> None:
    result = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-z", str(ROOT / "man" / page)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    manifests = tmp_path / "models" / "manifests"
    for relative in (
        "registry.ollama.ai/library/smollm2/135m",
        "registry.ollama.ai/library/smollm2/latest",
        "registry.ollama.ai/me/mine/v1",
        "localhost:5000/team/x/latest",
    ):
        (manifests / relative).parent.mkdir(parents=True, exist_ok=True)
        (manifests / relative).write_text("{}")
    return tmp_path / "models"


BASH_DRIVER = r"""
source "$1"
complete -p corral
t() {
    COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
    read -ra COMP_WORDS <<< "$1"
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    [[ $1 == *" " ]] && COMP_CWORD=${#COMP_WORDS[@]}
    COMPREPLY=()
    _corral
    echo "$1|${COMPREPLY[*]}"
}
t "corral r"
t "corral t"
t "corral run sm"
t "corral run smollm2:"
t "corral run --fo"
t "corral run "
t "corral run smollm2:135m "
t "corral rm smollm2:135m "
t "corral completion "
t "corral history "
t "corral run -o "
compgen -F _corral -- x >/dev/null 2>&1 || true
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_commands_options_and_models(store_dir: Path) -> None:
    result = subprocess.run(
        ["bash", "--norc", "-c", BASH_DRIVER, "bash", str(ROOT / "completions" / "corral.bash")],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "CORRAL_MODELS": str(store_dir)},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "complete -o default -F _corral corral"
    got = dict(line.split("|", 1) for line in lines[1:])
    models = {"smollm2:135m", "smollm2:latest", "me/mine:v1", "localhost:5000/team/x:latest"}
    assert got["corral r"].split() == ["registry", "rm", "run"]
    assert got["corral t"].split() == ["tui"]
    assert got["corral run sm"].split() == ["smollm2:135m", "smollm2:latest"]
    assert got["corral run smollm2:"].split() == ["135m", "latest"]  # after bash's ':' split
    assert got["corral run --fo"] == "--format"
    assert set(got["corral run "].split()) == models
    assert got["corral run smollm2:135m "] == ""  # the prompt is free text
    assert set(got["corral rm smollm2:135m "].split()) == models  # rm takes several
    assert got["corral completion "].split() == ["bash", "zsh", "fish"]
    assert got["corral history "].split() == ["list", "search"]
    assert got["corral run -o "] == ""  # a value, not a model


def test_bash_falls_back_to_home_and_copes_with_no_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".corral" / "models" / "manifests" / "registry.ollama.ai" / "library" / "m").mkdir(
        parents=True
    )
    (home / ".corral/models/manifests/registry.ollama.ai/library/m/latest").write_text("{}")
    script = f"source {ROOT / 'completions/corral.bash'}; _corral_models"
    result = subprocess.run(
        ["bash", "--norc", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
    )
    assert result.stdout == "m:latest\n"
    empty = subprocess.run(
        ["bash", "--norc", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "nobody")},
    )
    assert empty.returncode == 0 and empty.stdout == ""


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_parses() -> None:
    result = subprocess.run(
        ["zsh", "-n", str(ROOT / "completions" / "_corral")], capture_output=True, timeout=30
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_models(store_dir: Path) -> None:
    script = f"source {ROOT / 'completions/corral.fish'}; complete -C 'corral run sm'"
    result = subprocess.run(
        ["fish", "--no-config", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "CORRAL_MODELS": str(store_dir)},
    )
    assert "smollm2:135m" in result.stdout, result.stderr
