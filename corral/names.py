"""Model names: `[scheme://][host/][namespace/]model[:tag]` with Ollama's defaults and part rules.

A `ModelName` is always valid: every part passed the byte-wise ASCII rules below, so
no part can be empty, start with `.`, or hold `/`, `\\`, NUL or a non-ASCII character.
That is what makes it safe to build `manifests/<host>/<namespace>/<model>/<tag>` from it.

| part      | first character  | later characters     | length |
|-----------|------------------|----------------------|--------|
| host      | `A-Za-z0-9_`     | `A-Za-z0-9_.:-`      | 1–350  |
| namespace | `A-Za-z0-9_`     | `A-Za-z0-9_-`        | 1–80   |
| model     | `A-Za-z0-9_`     | `A-Za-z0-9_.-`       | 1–80   |
| tag       | `A-Za-z0-9_`     | `A-Za-z0-9_.-`       | 1–80   |

Names compare case-insensitively (`key()`); the case a user typed is kept for display.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.errors import InvalidModelName

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_NAMESPACE",
    "DEFAULT_SCHEME",
    "DEFAULT_TAG",
    "MAX_HOST_LENGTH",
    "MAX_PART_LENGTH",
    "ModelName",
    "is_valid_part",
]

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
DEFAULT_SCHEME = "https"

MAX_HOST_LENGTH = 350
MAX_PART_LENGTH = 80

_SCHEMES = frozenset({"http", "https"})
# Explicit ASCII sets: str.isalnum() and \w accept non-ASCII letters such as 'ſ'.
_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_REST = {
    "host": _FIRST | frozenset(".:-"),
    "namespace": _FIRST | frozenset("-"),
    "model": _FIRST | frozenset(".-"),
    "tag": _FIRST | frozenset(".-"),
}
_MAX_ECHO = 1000  # longest input echoed back verbatim in an error message


def is_valid_part(kind: str, text: str) -> bool:
    """Whether `text` is a valid `kind` part ("host", "namespace", "model" or "tag")."""
    limit = MAX_HOST_LENGTH if kind == "host" else MAX_PART_LENGTH
    if not 1 <= len(text) <= limit:
        return False
    rest = _REST[kind]
    return text[0] in _FIRST and all(c in rest for c in text[1:])


def _invalid(text: str) -> InvalidModelName:
    shown = text if len(text) <= _MAX_ECHO else text[:_MAX_ECHO] + "…"
    return InvalidModelName(f'invalid model name "{shown}"')


def _ascii_lower(text: str) -> str:
    # Parts are ASCII by construction, so this equals casefold() for them.
    return text.casefold()


@dataclass(frozen=True, slots=True)
class ModelName:
    """A fully qualified, validated model name.

    Build one with `ModelName.parse("llama3.2")`; missing parts take Ollama's defaults.
    Direct construction validates every part too.
    """

    host: str
    """Registry host, with an optional `:port` (`registry.ollama.ai`)."""
    namespace: str
    """User or organisation on the registry (`library` for official models)."""
    model: str
    """The model's own name (`llama3.2`)."""
    tag: str
    """The variant (`latest`, `3b-instruct-q4_K_M`)."""
    scheme: str = DEFAULT_SCHEME
    """`https`, or `http` for an insecure registry; not part of the name's identity."""

    def __post_init__(self) -> None:
        parts = (
            ("host", self.host),
            ("namespace", self.namespace),
            ("model", self.model),
            ("tag", self.tag),
        )
        for kind, value in parts:
            if not isinstance(value, str) or not is_valid_part(kind, value):
                raise _invalid(f"{self.host}/{self.namespace}/{self.model}:{self.tag}")
        if self.scheme not in _SCHEMES:
            raise _invalid(f"{self.scheme}://{self.host}/{self.namespace}/{self.model}:{self.tag}")

    @classmethod
    def parse(cls, text: str) -> ModelName:
        """Parse `[scheme://][host/][namespace/]model[:tag]`, filling in the defaults.

        Parsing cuts from the right, as Ollama's `ParseNameBare` does: the tag after the
        last `:` (only when it follows the last `/`), then the model and namespace at
        the last `/`; whatever is left is the host, with an optional `scheme://`.

        Raises:
            InvalidModelName: a part is empty, too long, or holds a forbidden character,
                or the scheme is not http or https.
        """
        if not isinstance(text, str):
            raise _invalid(str(text))
        rest = text
        tag = DEFAULT_TAG
        if rest.rfind(":") > rest.rfind("/"):
            rest, _, tag = rest.rpartition(":")
            if not rest or not tag:
                raise _invalid(text)
        host, namespace, scheme = DEFAULT_HOST, DEFAULT_NAMESPACE, DEFAULT_SCHEME
        rest, slash, model = rest.rpartition("/")
        if slash:
            if not rest or not model:
                raise _invalid(text)
            # With no "/" left, rpartition puts everything in `namespace`.
            rest, slash, namespace = rest.rpartition("/")
            if slash:
                if not rest or not namespace:
                    raise _invalid(text)
                if "://" in rest:
                    scheme, _, rest = rest.partition("://")
                    scheme = scheme.lower()
                    if scheme not in _SCHEMES:
                        raise _invalid(text)
                host = rest
        if not (
            is_valid_part("host", host)
            and is_valid_part("namespace", namespace)
            and is_valid_part("model", model)
            and is_valid_part("tag", tag)
        ):
            raise _invalid(text)
        return cls(host=host, namespace=namespace, model=model, tag=tag, scheme=scheme)

    @property
    def display(self) -> str:
        """The shortest form that parses back to this name; the tag is always kept.

        `llama3.2:latest`, `user/m:latest`, `host.io/ns/m:tag`.
        """
        if _ascii_lower(self.host) != DEFAULT_HOST:
            return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        if _ascii_lower(self.namespace) != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"

    @property
    def full(self) -> str:
        """Every part spelled out: `registry.ollama.ai/library/llama3.2:latest`."""
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    @property
    def parts(self) -> tuple[str, str, str, str]:
        """`(host, namespace, model, tag)` as written, the components of its manifest path."""
        return (self.host, self.namespace, self.model, self.tag)

    def key(self) -> tuple[str, str, str, str]:
        """The parts casefolded, for case-insensitive comparison and dictionary keys."""
        return (
            _ascii_lower(self.host),
            _ascii_lower(self.namespace),
            _ascii_lower(self.model),
            _ascii_lower(self.tag),
        )

    def same_as(self, other: ModelName) -> bool:
        """Whether both names denote the same model, ignoring case and scheme."""
        return self.key() == other.key()

    def with_tag(self, tag: str) -> ModelName:
        """This name with another tag (validated)."""
        return ModelName(self.host, self.namespace, self.model, tag, self.scheme)

    def __str__(self) -> str:
        return self.display
