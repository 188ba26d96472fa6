"""Modelfile parsing and rendering, Ollama-compatible; pure (text in, `Modelfile` out).

```python
from corral.modelfile import parse
m = parse("FROM llama3.2\\nPARAMETER temperature 0.7\\nSYSTEM You are terse.\\n")
m.parameters  # {'temperature': 0.7}
print(m.render())  # canonical text; parse(m.render()) == m
```

Errors are `corral.errors.ModelfileError`, whose `str` is `<source>:<line>: <message>`.
See `_syntax` for the scanner rules, `_model` for instruction semantics and rendering,
`_params` for typed parameters and `_show` for `ollama show --modelfile` text.
"""

from __future__ import annotations

from corral.errors import ModelfileError
from corral.modelfile._model import (
    MAX_STOP_SEQUENCES,
    Modelfile,
    normalize_requires,
    parse,
    parse_file,
)
from corral.modelfile._params import (
    DEPRECATED_PARAMETERS,
    PARAMETER_TYPES,
    coerce_parameter,
    format_parameter_value,
)
from corral.modelfile._show import render_show_modelfile
from corral.modelfile._syntax import (
    COMMANDS,
    MAX_MODELFILE_BYTES,
    ROLES,
    Instruction,
    parse_instructions,
    quote,
)

__all__ = [
    "COMMANDS",
    "DEPRECATED_PARAMETERS",
    "MAX_MODELFILE_BYTES",
    "MAX_STOP_SEQUENCES",
    "PARAMETER_TYPES",
    "ROLES",
    "Instruction",
    "Modelfile",
    "ModelfileError",
    "coerce_parameter",
    "format_parameter_value",
    "normalize_requires",
    "parse",
    "parse_file",
    "parse_instructions",
    "quote",
    "render_show_modelfile",
]
