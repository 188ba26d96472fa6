"""Every CORRAL_* environment variable, read at call time.

Accessors are functions so that tests can `monkeypatch.setenv` without reloading
anything. A bad value logs one warning naming the variable and falls back to the
default; only an unusable value (an unparsable host) raises `ConfigError`.
`describe()` lists them all for `corral serve --help` and the startup log.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from corral.durations import FOREVER, parse_go_duration
from corral.errors import ConfigError

__all__ = [
    "EnvVar",
    "HostAddress",
    "api_key",
    "catalog_index_url",
    "context_length",
    "cuda_visible_devices",
    "debug",
    "describe",
    "home",
    "host",
    "keep_alive",
    "load_timeout",
    "log_file",
    "max_body",
    "max_loaded_models",
    "max_queue",
    "models",
    "no_history",
    "no_prune",
    "num_parallel",
    "num_thread",
    "origins",
    "registry_auth",
    "spare_runner",
]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 11434


def _raw(name: str) -> str:
    """The variable's value with surrounding spaces and quotes stripped (as Ollama does)."""
    return os.environ.get(name, "").strip().strip("\"'")


def _bool(name: str) -> bool:
    value = _raw(name)
    if not value:
        return False
    # Ollama's BoolWithDefault: an unparsable non-empty value counts as true.
    return value.lower() not in {"0", "f", "false", "no", "off"}


def _int(name: str, default: int, *, minimum: int = 0) -> int:
    value = _raw(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        logger.warning("invalid %s=%r (not an integer); using %d", name, value, default)
        return default
    if number < minimum:
        logger.warning("invalid %s=%r (below %d); using %d", name, value, minimum, default)
        return default
    return number


def _duration(name: str, default: float) -> float:
    """Seconds from a Go duration or a plain number of seconds; negative → forever."""
    value = _raw(name)
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parse_go_duration(value)
        except ValueError:
            logger.warning("invalid %s=%r (not a duration); using the default", name, value)
            return default
    return FOREVER if seconds < 0 else seconds


@dataclass(frozen=True, slots=True)
class HostAddress:
    """Where the daemon listens and where clients reach it."""

    scheme: str
    host: str
    port: int

    @property
    def url(self) -> str:
        """Base URL for clients (`http://127.0.0.1:11434`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        return self.host in {"127.0.0.1", "localhost", "::1"} or self.host.startswith("127.")


def parse_host(value: str) -> HostAddress:
    """Parse a CORRAL_HOST value as Ollama parses OLLAMA_HOST.

    Accepts `host`, `host:port`, `:port`, `scheme://host:port` and bracketed IPv6.

    Raises:
        ConfigError: the value has no usable host or port.
    """
    text = value.strip().strip("\"'") or f"127.0.0.1:{DEFAULT_PORT}"
    scheme = "http"
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme not in {"http", "https"}:
            raise ConfigError(f"CORRAL_HOST {value!r} has scheme {scheme!r}; use http or https")
    text = text.split("/", 1)[0]
    default_port = 443 if scheme == "https" else DEFAULT_PORT
    try:
        parts = urlsplit(f"//{text}")
        hostname = parts.hostname or "127.0.0.1"
        port = parts.port or default_port
    except ValueError as exc:
        raise ConfigError(f"CORRAL_HOST {value!r} is not a valid host:port ({exc})") from exc
    return HostAddress(scheme, hostname, port)


def host() -> HostAddress:
    """CORRAL_HOST: address of the daemon (default 127.0.0.1:11434)."""
    return parse_host(_raw("CORRAL_HOST"))


def home() -> Path:
    """CORRAL_HOME: corral's own directory (logs, history, catalog cache). Default ~/.corral."""
    value = _raw("CORRAL_HOME")
    return Path(value).expanduser() if value else Path.home() / ".corral"


def models() -> Path:
    """CORRAL_MODELS: the model store (default <CORRAL_HOME>/models)."""
    value = _raw("CORRAL_MODELS")
    return Path(value).expanduser() if value else home() / "models"


def keep_alive() -> float:
    """CORRAL_KEEP_ALIVE: seconds an idle model stays loaded ("5m", "300", "-1" = forever)."""
    return _duration("CORRAL_KEEP_ALIVE", 300.0)


def load_timeout() -> float:
    """CORRAL_LOAD_TIMEOUT: seconds a runner may take to load its model (default 5m)."""
    seconds = _duration("CORRAL_LOAD_TIMEOUT", 300.0)
    return seconds if seconds > 0 and not math.isinf(seconds) else 300.0


def max_loaded_models() -> int:
    """CORRAL_MAX_LOADED_MODELS: runners kept at once (0 = 3 per GPU, or 3 on CPU)."""
    return _int("CORRAL_MAX_LOADED_MODELS", 0)


def num_parallel() -> int:
    """CORRAL_NUM_PARALLEL: sequences each runner serves at once (0 = up to 4, as memory allows)."""
    return _int("CORRAL_NUM_PARALLEL", 0)


def cuda_visible_devices() -> list[str] | None:
    """CUDA_VISIBLE_DEVICES: GPUs corral may use, by index or UUID (unset = all, empty = none)."""
    if "CUDA_VISIBLE_DEVICES" not in os.environ:
        return None
    return [part.strip() for part in _raw("CUDA_VISIBLE_DEVICES").split(",") if part.strip()]


def max_queue() -> int:
    """CORRAL_MAX_QUEUE: requests allowed to wait for a model or a slot (default 512)."""
    return _int("CORRAL_MAX_QUEUE", 512, minimum=1)


def context_length() -> int:
    """CORRAL_CONTEXT_LENGTH: default num_ctx (0 = 4096, or more on large GPUs)."""
    return _int("CORRAL_CONTEXT_LENGTH", 0)


def num_thread() -> int:
    """CORRAL_NUM_THREAD: CPU threads per runner (0 = one per physical core, as llama-server)."""
    return _int("CORRAL_NUM_THREAD", 0)


def origins() -> list[str]:
    """CORRAL_ORIGINS: extra browser origins allowed (comma separated)."""
    return [part.strip() for part in _raw("CORRAL_ORIGINS").split(",") if part.strip()]


def api_key() -> str:
    """CORRAL_API_KEY: bearer token every endpoint but `/` requires when set."""
    return _raw("CORRAL_API_KEY")


def max_body() -> int:
    """CORRAL_MAX_BODY: largest JSON request body in bytes (default 64 MiB; blobs stream)."""
    return _int("CORRAL_MAX_BODY", 64 * 1024 * 1024, minimum=1024)


def debug() -> bool:
    """CORRAL_DEBUG: verbose logging and tracebacks."""
    return _bool("CORRAL_DEBUG")


def log_file() -> Path:
    """CORRAL_LOG_FILE: where a background daemon logs (default <CORRAL_HOME>/logs/server.log)."""
    value = _raw("CORRAL_LOG_FILE")
    return Path(value).expanduser() if value else home() / "logs" / "server.log"


def no_prune() -> bool:
    """CORRAL_NOPRUNE: keep unreferenced blobs on delete and at startup."""
    return _bool("CORRAL_NOPRUNE")


def spare_runner() -> bool:
    """CORRAL_SPARE_RUNNER: keep one runner process started ahead, imports done (default on)."""
    value = _raw("CORRAL_SPARE_RUNNER")
    return not value or value.lower() not in {"0", "f", "false", "no", "off"}


def no_history() -> bool:
    """CORRAL_NOHISTORY: do not keep REPL history."""
    return _bool("CORRAL_NOHISTORY")


def catalog_index_url() -> str:
    """CORRAL_CATALOG_INDEX: a pip index URL for catalog packages (default: pip's own)."""
    return _raw("CORRAL_CATALOG_INDEX")


def registry_auth() -> Path:
    """CORRAL_REGISTRY_AUTH: registry tokens by host, JSON (default <home>/registry-auth.json)."""
    value = _raw("CORRAL_REGISTRY_AUTH")
    return Path(value).expanduser() if value else home() / "registry-auth.json"


@dataclass(frozen=True, slots=True)
class EnvVar:
    """One documented variable, its current value and what it does."""

    name: str
    value: str
    help: str


_DOCUMENTED = {
    "CORRAL_HOST": host,
    "CORRAL_HOME": home,
    "CORRAL_MODELS": models,
    "CORRAL_KEEP_ALIVE": keep_alive,
    "CORRAL_LOAD_TIMEOUT": load_timeout,
    "CORRAL_MAX_LOADED_MODELS": max_loaded_models,
    "CORRAL_NUM_PARALLEL": num_parallel,
    "CORRAL_MAX_QUEUE": max_queue,
    "CORRAL_CONTEXT_LENGTH": context_length,
    "CORRAL_NUM_THREAD": num_thread,
    "CORRAL_ORIGINS": origins,
    "CORRAL_API_KEY": api_key,
    "CORRAL_MAX_BODY": max_body,
    "CORRAL_DEBUG": debug,
    "CORRAL_LOG_FILE": log_file,
    "CORRAL_NOPRUNE": no_prune,
    "CORRAL_SPARE_RUNNER": spare_runner,
    "CORRAL_NOHISTORY": no_history,
    "CORRAL_CATALOG_INDEX": catalog_index_url,
    "CORRAL_REGISTRY_AUTH": registry_auth,
    "CUDA_VISIBLE_DEVICES": cuda_visible_devices,
}


def describe() -> list[EnvVar]:
    """Every documented variable with its effective value (secrets redacted)."""
    result = []
    for name, accessor in _DOCUMENTED.items():
        doc = (accessor.__doc__ or "").split(": ", 1)[-1].strip()
        value: object = accessor()
        if isinstance(value, HostAddress):
            value = value.url
        elif isinstance(value, list):
            value = ",".join(value)
        elif value is None:
            value = ""
        if name == "CORRAL_API_KEY" and value:
            value = "***"
        result.append(EnvVar(name, str(value), doc))
    return result
