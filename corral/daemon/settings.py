"""The daemon's configuration, read from the environment once at startup."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from corral import envconfig

__all__ = ["Settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the daemon reads from CORRAL_* variables, as one snapshot."""

    host: envconfig.HostAddress
    home: Path
    models: Path
    keep_alive: float
    load_timeout: float
    max_loaded_models: int
    """Runners kept at once; 0 = 3 per GPU (3 on CPU), decided from each memory snapshot."""
    num_parallel: int
    """Sequences per runner; 0 = as many as fit, up to 4, decided at each load."""
    max_queue: int
    context_length: int
    num_thread: int
    no_prune: bool
    debug: bool
    origins: tuple[str, ...] = ()
    """Extra browser origins allowed besides the local defaults (CORRAL_ORIGINS)."""
    api_key: str = ""
    """Bearer token every endpoint but `/` requires when non-empty (CORRAL_API_KEY)."""
    max_body: int = 64 * 1024 * 1024
    """Largest JSON request body in bytes (CORRAL_MAX_BODY)."""
    registry_auth: Path | None = None
    """The registry credentials file (CORRAL_REGISTRY_AUTH); None: no credentials."""
    spare_runner: bool = False
    """Keep one runner process started ahead so a cold load skips Python's imports."""

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            host=envconfig.host(),
            home=envconfig.home(),
            models=envconfig.models(),
            keep_alive=envconfig.keep_alive(),
            load_timeout=envconfig.load_timeout(),
            max_loaded_models=envconfig.max_loaded_models(),
            num_parallel=envconfig.num_parallel(),
            max_queue=envconfig.max_queue(),
            context_length=envconfig.context_length(),
            num_thread=envconfig.num_thread(),
            no_prune=envconfig.no_prune(),
            debug=envconfig.debug(),
            origins=tuple(envconfig.origins()),
            api_key=envconfig.api_key(),
            max_body=envconfig.max_body(),
            registry_auth=envconfig.registry_auth(),
            spare_runner=envconfig.spare_runner(),
        )
