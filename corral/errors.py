"""The one error tree of corral.

Every error corral raises on purpose derives from `CorralError`. Each class knows
the HTTP status it maps to, the snake-case `code` sent beside the message in JSON,
and the exit code the CLI uses, so translating between layers is a lookup:

```
CorralError                      internal            500  exit 1
├── ConfigError                  config              500
├── InvalidRequest               invalid_request     400
│   ├── InvalidModelName         invalid_model_name  400
│   ├── InvalidDigest            invalid_digest      400
│   ├── ModelfileError           modelfile           400  (.line)
│   ├── TemplateError            template            400
│   ├── GGUFError                gguf                400
│   ├── ConversionError          conversion          400
│   ├── SchemaError              invalid_schema      400
│   ├── UnsupportedCapability    unsupported         400
│   └── RequestTooLarge          too_large           413
├── Unauthorized                 unauthorized        401
├── Forbidden                    forbidden           403
├── NotFound                     not_found           404
│   ├── ModelNotFound            model_not_found     404
│   └── BlobNotFound             blob_not_found      404
├── StoreError                   store               500
│   └── DigestMismatch           digest_mismatch     400
├── SchedulerError               scheduler           500
│   ├── QueueFull                queue_full          503
│   ├── ShuttingDown             shutting_down       503
│   └── InsufficientMemory       insufficient_memory 500
├── RunnerError                  runner              500  (.stderr_tail)
│   ├── RunnerStartFailed        runner_start_failed 500
│   └── RunnerCrashed            runner_crashed      500
├── CatalogError                 catalog             500
├── RegistryError                registry            500  (a registry refused or failed)
├── RequestCanceled              canceled            499  exit 130
└── ClientError                  client              (raised by corral.client only)
    ├── DaemonUnavailable        daemon_unavailable        exit 1
    └── ProtocolError            protocol                  exit 1
```

Messages are one sentence that names the offending value and, where it helps,
what to do next.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "BlobNotFound",
    "CatalogError",
    "ClientError",
    "ConfigError",
    "ConversionError",
    "CorralError",
    "DaemonUnavailable",
    "DigestMismatch",
    "Forbidden",
    "GGUFError",
    "InsufficientMemory",
    "InvalidDigest",
    "InvalidModelName",
    "InvalidRequest",
    "ModelNotFound",
    "ModelfileError",
    "NotFound",
    "ProtocolError",
    "QueueFull",
    "RegistryError",
    "RequestCanceled",
    "RequestTooLarge",
    "RunnerCrashed",
    "RunnerError",
    "RunnerStartFailed",
    "SchedulerError",
    "SchemaError",
    "ShuttingDown",
    "StoreError",
    "TemplateError",
    "Unauthorized",
    "UnsupportedCapability",
    "error_for_code",
]


class CorralError(Exception):
    """Base class for every error corral raises on purpose."""

    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(CorralError):
    """The configuration is unusable (an unparsable CORRAL_HOST, say)."""

    code = "config"


class InvalidRequest(CorralError):
    """A request, argument or file failed validation."""

    code = "invalid_request"
    status = 400


class InvalidModelName(InvalidRequest):
    """A model name breaks the naming rules."""

    code = "invalid_model_name"


class InvalidDigest(InvalidRequest):
    """A digest is not `sha256:` followed by 64 lowercase hex digits."""

    code = "invalid_digest"


class ModelfileError(InvalidRequest):
    """A Modelfile could not be parsed; `line` is 1-based, 0 when unknown."""

    code = "modelfile"

    def __init__(self, message: str, *, line: int = 0, source: str = "Modelfile") -> None:
        self.line = line
        self.source = source
        self.reason = message
        super().__init__(f"{source}:{line}: {message}" if line else message)


class TemplateError(InvalidRequest):
    """A prompt template failed to parse or to render."""

    code = "template"


class GGUFError(InvalidRequest):
    """A file is not a well-formed GGUF model."""

    code = "gguf"


class ConversionError(InvalidRequest):
    """A checkpoint cannot be converted or a model cannot be quantized as asked."""

    code = "conversion"


class SchemaError(InvalidRequest):
    """A JSON schema is malformed or uses something the grammar cannot enforce."""

    code = "invalid_schema"


class UnsupportedCapability(InvalidRequest):
    """The model cannot do what was asked (tools, insert, embeddings...)."""

    code = "unsupported"


class RequestTooLarge(InvalidRequest):
    """A request body is larger than the daemon accepts."""

    code = "too_large"
    status = 413


class Unauthorized(CorralError):
    """CORRAL_API_KEY is set and the request carries no token, or the wrong one."""

    code = "unauthorized"
    status = 401


class Forbidden(CorralError):
    """A browser origin or Host header the daemon does not serve."""

    code = "forbidden"
    status = 403


class NotFound(CorralError):
    """Something named in a request does not exist."""

    code = "not_found"
    status = 404


class ModelNotFound(NotFound):
    """A model name resolves to no manifest."""

    code = "model_not_found"


class BlobNotFound(NotFound):
    """A digest names no blob in the store."""

    code = "blob_not_found"


class StoreError(CorralError):
    """The model store could not be read or written."""

    code = "store"


class DigestMismatch(StoreError):
    """Content does not hash to the digest it was given under."""

    code = "digest_mismatch"
    status = 400


class SchedulerError(CorralError):
    """The scheduler could not place a request."""

    code = "scheduler"


class QueueFull(SchedulerError):
    """More requests are waiting than CORRAL_MAX_QUEUE allows."""

    code = "queue_full"
    status = 503


class ShuttingDown(SchedulerError):
    """The daemon is stopping: new requests are refused and open ones are ended."""

    code = "shutting_down"
    status = 503


class InsufficientMemory(SchedulerError):
    """A model does not fit even after evicting idle runners."""

    code = "insufficient_memory"


class RunnerError(CorralError):
    """A runner subprocess failed; `stderr_tail` explains why when it can."""

    code = "runner"

    def __init__(self, message: str, *, stderr_tail: str = "") -> None:
        super().__init__(message)
        self.stderr_tail = stderr_tail


class RunnerStartFailed(RunnerError):
    """A runner exited or timed out while loading its model."""

    code = "runner_start_failed"


class RunnerCrashed(RunnerError):
    """A runner died while serving a request."""

    code = "runner_crashed"


class CatalogError(CorralError):
    """A catalog model could not be fetched or imported."""

    code = "catalog"


class RegistryError(CorralError):
    """A model registry refused a pull or push, or answered with something unusable."""

    code = "registry"


class RequestCanceled(CorralError):
    """The client went away or interrupted the request."""

    code = "canceled"
    status = 499
    exit_code = 130


class ClientError(CorralError):
    """Raised by corral.client when the daemon cannot be reached or understood."""

    code = "client"


class DaemonUnavailable(ClientError):
    """The daemon is not answering at the configured address."""

    code = "daemon_unavailable"


class ProtocolError(ClientError):
    """The daemon sent a response the client cannot decode."""

    code = "protocol"


def _all_subclasses(cls: type[CorralError]) -> list[type[CorralError]]:
    found: list[type[CorralError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


_ERROR_CLASSES: list[type[CorralError]] = [CorralError, *_all_subclasses(CorralError)]
_BY_CODE: dict[str, type[CorralError]] = {cls.code: cls for cls in _ERROR_CLASSES}


def error_for_code(code: str | None, message: str, status: int = 500) -> CorralError:
    """Rebuild the error a daemon response describes.

    A known `code` gives back its own class; otherwise the HTTP status picks the
    nearest generic class, so Ollama's own daemon (which sends no code) maps too.
    """
    cls = _BY_CODE.get(code or "")
    if cls is None:
        cls = {
            400: InvalidRequest,
            401: Unauthorized,
            403: Forbidden,
            404: NotFound,
            413: RequestTooLarge,
            499: RequestCanceled,
            503: QueueFull,
        }.get(status, CorralError)
    return cls(message)
