"""What `/api/create` needs from a parsed Modelfile: fields, plus the local files to upload.

Shared by `corral create -f` and the TUI's Modelfile editor; it does no HTTP and
draws nothing. `plan_create` reads the file system (to tell a local path from a
model name), so front ends on an event loop call it in a thread; each front end
then hashes and uploads `CreatePlan.uploads` and calls `CreatePlan.body`.

A `FROM` (or `ADAPTER`) naming a local GGUF file, or a directory holding exactly
one, is uploaded and referenced by digest. A `FROM` directory holding a Hugging
Face checkpoint (`config.json` and `*.safetensors`, no GGUF) has each of its
weight, config and tokenizer files uploaded the same way. Any other `FROM` is
sent as a model name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.errors import InvalidRequest, ModelfileError
from corral.modelfile import Modelfile

__all__ = [
    "CreatePlan",
    "checkpoint_files",
    "peft_adapter_files",
    "plan_create",
    "resolve_local_file",
    "sha256_file",
]

_HASH_CHUNK = 1 << 20
_PATH_PREFIXES = ("/", "./", "../", "~", ".\\", "..\\")


def sha256_file(path: Path, progress: Callable[[int, int], None] | None = None) -> str:
    """`sha256:<hex>` of a file; `progress(done, size)` is called as it reads."""
    digest = hashlib.sha256()
    done = 0
    try:
        with path.open("rb") as handle:
            size = path.stat().st_size
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
                done += len(chunk)
                if progress is not None and size:
                    progress(done, size)
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


@dataclass
class CreatePlan:
    """The `/api/create` fields, less the digests of the local files still to upload."""

    fields: dict[str, Any]
    """Everything but `files` and `adapters` (`from` holds a model name when FROM names one)."""
    files: dict[str, Path] = field(default_factory=dict)
    """The `files` entries: name in the request → local path."""
    adapters: dict[str, Path] = field(default_factory=dict)
    """The `adapters` entries: name in the request → local path."""

    @property
    def uploads(self) -> list[Path]:
        """Every local path to hash and upload, each once, in request order."""
        return list(dict.fromkeys([*self.files.values(), *self.adapters.values()]))

    def body(self, digests: Mapping[Path, str]) -> dict[str, Any]:
        """The whole `/api/create` body, given the digest of each path in `uploads`."""
        body = dict(self.fields)
        if self.files:
            body["files"] = {name: digests[path] for name, path in self.files.items()}
        if self.adapters:
            body["adapters"] = {name: digests[path] for name, path in self.adapters.items()}
        return body


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


def plan_create(modelfile: Modelfile, base: Path, quantize: str | None = None) -> CreatePlan:
    """The plan for a parsed Modelfile; relative paths are taken from `base`.

    Raises:
        ModelfileError: no FROM, or a FROM/ADAPTER path names nothing usable.
    """
    plan = CreatePlan({})
    source = getattr(modelfile, "from_", None)
    if not source:
        raise ModelfileError("no FROM line")
    checkpoint = checkpoint_files(str(source), base)
    local = None if checkpoint else resolve_local_file(str(source), base)
    if checkpoint:
        root = checkpoint[0].parent
        plan.files = {path.relative_to(root).as_posix(): path for path in checkpoint}
    elif local is None:
        plan.fields["from"] = str(source)
    else:
        plan.files = {local.name: local}
    for extra in _strings(getattr(modelfile, "extra_froms", None)):
        # A second FROM names the model's vision projector (mmproj GGUF), as in Ollama.
        path = resolve_local_file(extra, base)
        if path is None or not plan.files or checkpoint:
            raise ModelfileError(
                f"FROM {extra!r}: a second FROM must be a local projector GGUF file beside "
                "a FROM GGUF file"
            )
        if path.name in plan.files:
            raise ModelfileError(f"FROM {extra!r}: two FROM files are both named {path.name}")
        plan.files[path.name] = path
    for adapter in _strings(getattr(modelfile, "adapters", None)):
        peft = peft_adapter_files(adapter, base)
        if peft is not None:
            if plan.adapters:
                raise ModelfileError("a PEFT LoRA ADAPTER directory must be the only ADAPTER")
            plan.adapters = {p.name: p for p in peft}
            continue
        path = resolve_local_file(adapter, base, what="ADAPTER")
        if path is None:
            raise ModelfileError(f"ADAPTER path {adapter!r} does not exist")
        plan.adapters[path.name] = path
    for key in ("template", "system", "requires", "renderer", "parser"):
        value = getattr(modelfile, key, None)
        if value is not None:
            plan.fields[key] = value
    parameters = _parameters(getattr(modelfile, "parameters", None))
    if parameters:
        plan.fields["parameters"] = parameters
    messages = _messages(getattr(modelfile, "messages", None))
    if messages:
        plan.fields["messages"] = messages
    licenses = _strings(getattr(modelfile, "licenses", None))
    if licenses:
        plan.fields["license"] = licenses
    if quantize:
        plan.fields["quantize"] = quantize
    return plan
