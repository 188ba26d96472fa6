"""A Python implementation of Go's `text/template`, as Ollama Modelfile TEMPLATEs use it.

```python
from corral.template.gotmpl import Template

t = Template.parse("{{ range .Messages }}{{ .Role }}: {{ .Content }}\\n{{ end }}")
t.execute({"Messages": [{"Role": "user", "Content": "hi"}]})   # 'user: hi\\n'
```

Modules: `lexer` (tokens), `parser` (trees of `nodes`), `exec` (evaluation, with `Limits`),
`builtins` (Go's functions), `fmt` (Go's printing and `printf`), `gojson` (Go's JSON encoding),
`values` (how Python values stand in for Go values), `strconv` (Go literal syntax).

Where corral differs from Go, on purpose:

* Fields missing from struct-like objects evaluate to `""` (Go fails with "can't evaluate field").
  Ollama passes structs (messages, tools), so a template written for a newer Ollama that reads a
  field corral does not have still renders. Pass `missing_field="error"` for Go's behaviour.
* Errors carry 1-based `LINE:COL` and no template name: `template: 3:14: unexpected "}" in
  operand`; execution errors read `template: 3:14: executing at <.Foo.Bar>: MESSAGE`.
* Execution is bounded (`Limits`): nested `{{template}}` calls (100), output size (32 Mi chars),
  steps (5 M) and wall-clock time (10 s); nesting in the source is bounded to 100 levels.
* Strings are Python `str`: `len`, `index` and `slice` work on their UTF-8 bytes as in Go, and a
  slice that splits a character yields U+FFFD.
"""

from __future__ import annotations

from corral.template.gotmpl.builtins import BUILTINS, Func, FuncError
from corral.template.gotmpl.exec import DEFAULT_LIMITS, Limits, MissingField, MissingKey
from corral.template.gotmpl.fmt import go_quote, sprint, sprint_value, sprintf, sprintln
from corral.template.gotmpl.gojson import JSONError, go_json_dumps
from corral.template.gotmpl.template import Template, walk_nodes
from corral.template.gotmpl.values import NO_VALUE, GoJSONMarshaler, GoStringer, is_true

__all__ = [
    "BUILTINS",
    "DEFAULT_LIMITS",
    "NO_VALUE",
    "Func",
    "FuncError",
    "GoJSONMarshaler",
    "GoStringer",
    "JSONError",
    "Limits",
    "MissingField",
    "MissingKey",
    "Template",
    "go_json_dumps",
    "go_quote",
    "is_true",
    "sprint",
    "sprint_value",
    "sprintf",
    "sprintln",
    "walk_nodes",
]
