"""`create NAME -f Modelfile`: parse the Modelfile here, upload local files, then `/api/create`.

Parsing on the client side gives line-numbered errors before anything is sent,
as Ollama's CLI does. A `FROM` (or `ADAPTER`) naming a local GGUF file, or a
directory holding exactly one, is hashed and uploaded as a blob when the daemon
lacks it, then referenced by digest. A `FROM` directory holding a Hugging Face
checkpoint (`config.json` and `*.safetensors`, no GGUF) has each of its weight,
config and tokenizer files uploaded the same way, and the daemon converts it.
Any other `FROM` is sent as a model name.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import click

from corral.cli._daemon import connect
from corral.cli._progress import Progress
from corral.client import Client
from corral.errors import InvalidRequest, ModelfileError
from corral.modelfile import Modelfile, parse_file

__all__ = [
    "checkpoint_files",
    "cli_create",
    "create_body",
    "peft_adapter_files",
    "resolve_local_file",
    "sha256_file",
]

_HASH_CHUNK = 1 << 20
_PATH_PREFIXES = ("/", "./", "../", "~", ".\\", "..\\")


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    """`sha256:<hex>` of a file, advancing a bar on `progress` as it reads."""
    digest = hashlib.sha256()
    done = 0
    try:
        with path.open("rb") as handle:
            size = path.stat().st_size
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
                done += len(chunk)
                if progress is not None and size:
                    progress.bar(f"hash:{path}", f"hashing {path.name}", size, done)
    except OSError as exc:
        raise InvalidRequest(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    return f"sha256:{digest.hexdigest()}"


def resolve_local_file(value: str, base: Path, *, what: str = "FROM") -> Path | None:
    """The local GGUF file a FROM/ADAPTER value names, or None when it names a model.

    Relative paths are taken from the Modelfile's directory and `~` is expanded.
    A directory must hold exactly one `.gguf` file.

    Raises:
        ModelfileError: the value looks like a path but names nothing usable.
    """
    candidate = Path(value).expanduser()
    if not candidate.is_absolute():
        candidate = base / candidate
    looks_like_path = value.startswith(_PATH_PREFIXES) or value.lower().endswith(".gguf")
    if not candidate.exists():
        if looks_like_path:
            raise ModelfileError(f"{what} path {value!r} does not exist")
        return None
    if candidate.is_dir():
        ggufs = sorted(
            p for p in candidate.iterdir() if p.suffix.lower() == ".gguf" and p.is_file()
        )
        if len(ggufs) != 1:
            count = "no" if not ggufs else str(len(ggufs))
            raise ModelfileError(
                f"{what} directory {value!r} holds {count} .gguf files; it must hold exactly one"
            )
        return ggufs[0]
    return candidate


_CHECKPOINT_EXTRA = ("tokenizer.model", "1_Pooling/config.json")


def checkpoint_files(value: str, base: Path) -> list[Path] | None:
    """The files of the Hugging Face checkpoint a FROM names, or None when it names none.

    A checkpoint is a directory with `config.json` and `*.safetensors` and no `.gguf`;
    its safetensors, JSON, Jinja and tokenizer files are what conversion reads.
    """
    directory = Path(value).expanduser()
    if not directory.is_absolute():
        directory = base / directory
    if not directory.is_dir() or not (directory / "config.json").is_file():
        return None
    top = [p for p in sorted(directory.iterdir()) if p.is_file()]
    if any(p.suffix.lower() == ".gguf" for p in top) or not any(
        p.suffix == ".safetensors" for p in top
    ):
        return None
    files = [p for p in top if p.suffix in {".safetensors", ".json", ".jinja"}]
    files += [directory / extra for extra in _CHECKPOINT_EXTRA if (directory / extra).is_file()]
    return files


def peft_adapter_files(value: str, base: Path) -> list[Path] | None:
    """The files of the PEFT LoRA directory an ADAPTER names, or None when it names none."""
    directory = Path(value).expanduser()
    if not directory.is_absolute():
        directory = base / directory
    if not directory.is_dir() or not (directory / "adapter_config.json").is_file():
        return None
    weights = sorted(directory.glob("adapter_model*.safetensors"))
    if not weights:
        return None
    return [directory / "adapter_config.json", *weights]


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


def _parameters(raw: object) -> dict[str, Any]:
    """Modelfile PARAMETERs as the API's map; repeated names (`stop`) become lists."""
    if isinstance(raw, Mapping):
        return dict(raw)
    result: dict[str, Any] = {}
    if isinstance(raw, Iterable) and not isinstance(raw, str | bytes):
        for item in raw:
            name, value = item
            if name == "stop" or name in result:
                previous = result.get(name, [])
                previous = previous if isinstance(previous, list) else [previous]
                result[name] = [*previous, *(value if isinstance(value, list) else [value])]
            else:
                result[name] = value
    return result


def _messages(raw: object) -> list[dict[str, str]] | None:
    if not raw or not isinstance(raw, Iterable):
        return None
    messages = []
    for item in raw:
        if isinstance(item, Mapping):
            role, content = item.get("role"), item.get("content")
        elif isinstance(item, tuple | list):
            role, content = item[0], item[1]
        else:
            role, content = getattr(item, "role", None), getattr(item, "content", None)
        messages.append({"role": str(role), "content": str(content)})
    return messages


def _strings(raw: object) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, Iterable):
        return [str(part) for part in raw]
    return [str(raw)]


def create_body(
    modelfile: Modelfile, base: Path, client: Client, progress: Progress, quantize: str | None
) -> dict[str, Any]:
    """The `/api/create` fields for a parsed Modelfile, uploading local files on the way."""
    body: dict[str, Any] = {}
    source = getattr(modelfile, "from_", None)
    if not source:
        raise ModelfileError("no FROM line")
    checkpoint = checkpoint_files(str(source), base)
    local = None if checkpoint else resolve_local_file(str(source), base)
    if checkpoint:
        root = checkpoint[0].parent
        body["files"] = {
            path.relative_to(root).as_posix(): _upload(client, path, progress)
            for path in checkpoint
        }
    elif local is None:
        body["from"] = str(source)
    else:
        body["files"] = {local.name: _upload(client, local, progress)}
    for extra in _strings(getattr(modelfile, "extra_froms", None)):
        # A second FROM names the model's vision projector (mmproj GGUF), as in Ollama.
        path = resolve_local_file(extra, base)
        if path is None or "files" not in body or checkpoint:
            raise ModelfileError(
                f"FROM {extra!r}: a second FROM must be a local projector GGUF file beside "
                "a FROM GGUF file"
            )
        if path.name in body["files"]:
            raise ModelfileError(f"FROM {extra!r}: two FROM files are both named {path.name}")
        body["files"][path.name] = _upload(client, path, progress)
    adapters: dict[str, str] = {}
    for adapter in _strings(getattr(modelfile, "adapters", None)):
        peft = peft_adapter_files(adapter, base)
        if peft is not None:
            if adapters:
                raise ModelfileError("a PEFT LoRA ADAPTER directory must be the only ADAPTER")
            adapters = {p.name: _upload(client, p, progress) for p in peft}
            continue
        path = resolve_local_file(adapter, base, what="ADAPTER")
        if path is None:
            raise ModelfileError(f"ADAPTER path {adapter!r} does not exist")
        adapters[path.name] = _upload(client, path, progress)
    if adapters:
        body["adapters"] = adapters
    for key in ("template", "system", "requires", "renderer", "parser"):
        value = getattr(modelfile, key, None)
        if value is not None:
            body[key] = value
    parameters = _parameters(getattr(modelfile, "parameters", None))
    if parameters:
        body["parameters"] = parameters
    messages = _messages(getattr(modelfile, "messages", None))
    if messages:
        body["messages"] = messages
    licenses = _strings(getattr(modelfile, "licenses", None))
    if licenses:
        body["license"] = licenses
    if quantize:
        body["quantize"] = quantize
    return body


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
