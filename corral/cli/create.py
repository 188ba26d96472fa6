"""`create NAME -f Modelfile`: parse the Modelfile here, upload local files, then `/api/create`.

Parsing on the client side gives line-numbered errors before anything is sent,
as Ollama's CLI does. A `FROM` (or `ADAPTER`) naming a local GGUF file, or a
directory holding exactly one, is hashed and uploaded as a blob when the daemon
lacks it, then referenced by digest. A `FROM` directory holding a Hugging Face
checkpoint (`config.json` and `*.safetensors`, no GGUF) has each of its weight,
config and tokenizer files uploaded the same way, and the daemon converts it.
Any other `FROM` is sent as a model name. What is a path and what is sent comes
from `corral.client.create_plan`, which the TUI's editor shares; this module adds
the blocking hash-and-upload with progress bars on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from corral.cli._daemon import connect
from corral.cli._progress import Progress
from corral.client import Client
from corral.client.create_plan import (
    checkpoint_files,
    peft_adapter_files,
    plan_create,
    resolve_local_file,
    sha256_file as _sha256_file,
)
from corral.modelfile import Modelfile, parse_file

__all__ = [
    "checkpoint_files",
    "cli_create",
    "create_body",
    "peft_adapter_files",
    "resolve_local_file",
    "sha256_file",
]


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    """`sha256:<hex>` of a file, advancing a bar on `progress` as it reads."""
    if progress is None:
        return _sha256_file(path)
    return _sha256_file(
        path, lambda done, size: progress.bar(f"hash:{path}", f"hashing {path.name}", size, done)
    )


def _upload(client: Client, path: Path, progress: Progress) -> str:
    """Hash `path` and upload it unless the daemon already holds that blob; returns its digest."""
    digest = sha256_file(path, progress)
    if client.blob_exists(digest):
        return digest
    size = path.stat().st_size
    label = f"copying file {digest[:19]}"
    progress.bar(f"upload:{digest}", label, max(size, 1), 0)
    client.upload_blob(
        digest, path, lambda sent: progress.bar(f"upload:{digest}", label, max(size, 1), sent)
    )
    return digest


def create_body(
    modelfile: Modelfile, base: Path, client: Client, progress: Progress, quantize: str | None
) -> dict[str, Any]:
    """The `/api/create` fields for a parsed Modelfile, uploading local files on the way."""
    plan = plan_create(modelfile, base, quantize)
    return plan.body({path: _upload(client, path, progress) for path in plan.uploads})


@click.command("create")
@click.argument("model")
@click.option(
    "-f",
    "--file",
    "file_",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("Modelfile"),
    show_default=True,
    help="The Modelfile to build from.",
)
@click.option("-q", "--quantize", help="Quantize the model to this level (e.g. q4_K_M).")
@click.pass_context
def cli_create(ctx: click.Context, model: str, file_: Path, quantize: str | None) -> None:
    """Create a model from a Modelfile."""
    modelfile = parse_file(file_)
    for warning in modelfile.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if modelfile.draft:
        click.echo("Warning: DRAFT is not supported by corral create yet; ignoring it", err=True)
    client = connect(ctx)
    with Progress(sys.stderr) as progress:
        progress.status("gathering model components")
        body = create_body(modelfile, file_.resolve().parent, client, progress, quantize)
        for event in client.create(model, **body):
            progress.update(event)
