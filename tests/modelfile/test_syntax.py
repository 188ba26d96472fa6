"""The Modelfile scanner: instruction names, comments, quoting, encodings and syntax errors."""

from __future__ import annotations

import pytest

from corral.errors import ModelfileError
from corral.modelfile import Instruction, parse, parse_instructions, quote
from corral.modelfile._syntax import MAX_MODELFILE_BYTES, decode


def error(text: str | bytes) -> ModelfileError:
    with pytest.raises(ModelfileError) as info:
        parse(text)
    return info.value


# --- instruction names and comments -------------------------------------------------------


@pytest.mark.parametrize("name", ["FROM", "from", "From", "fRoM"])
def test_instruction_names_are_case_insensitive(name: str) -> None:
    m = parse(f"{name} llama3.2\n{name.replace('m', 'M')} x\nsystem hi\nSyStEm bye\n")
    assert m.from_ == "llama3.2"
    assert m.system == "bye"


def test_every_instruction_is_accepted() -> None:
    m = parse(
        "FROM base\nADAPTER ./lora.gguf\nDRAFT ./draft.gguf\nRENDERER qwen3-coder\n"
        "PARSER qwen3-coder\nREQUIRES 0.14.0\nTEMPLATE {{ .Prompt }}\nSYSTEM sys\n"
        "LICENSE MIT\nMESSAGE user hi\nPARAMETER top_k 10\n"
    )
    assert (m.from_, m.adapters, m.draft, m.renderer, m.parser, m.requires) == (
        "base",
        ["./lora.gguf"],
        "./draft.gguf",
        "qwen3-coder",
        "qwen3-coder",
        "0.14.0",
    )
    assert (m.template, m.system, m.licenses, m.messages, m.parameters) == (
        "{{ .Prompt }}",
        "sys",
        ["MIT"],
        [("user", "hi")],
        {"top_k": 10},
    )


def test_comments_and_blank_lines_are_skipped_but_hash_inside_arguments_is_literal() -> None:
    m = parse(
        "# a comment\n\n   # an indented comment\n\tFROM x # not a comment\n"
        'SYSTEM """line one\n# still the system prompt\n"""\n'
    )
    assert m.from_ == "x # not a comment"
    assert m.system == "line one\n# still the system prompt\n"


def test_arguments_are_trimmed_and_tabs_separate() -> None:
    m = parse("FROM\t  model:tag   \nPARAMETER\ttemperature\t 0.5 \nMESSAGE  user   hi  \n")
    assert m.from_ == "model:tag"
    assert m.parameters == {"temperature": 0.5}
    assert m.messages == [("user", "hi")]


def test_parse_instructions_keeps_lines_and_keys() -> None:
    text = 'FROM x\n\nPARAMETER stop "a b"\nMESSAGE assistant """x\ny"""\nLICENSE L\n'
    assert parse_instructions(text) == [
        Instruction("from", "x", 1),
        Instruction("parameter", "a b", 3, key="stop"),
        Instruction("message", "x\ny", 4, key="assistant"),
        Instruction("license", "L", 6),
    ]


# --- quoting -------------------------------------------------------------------------------


def test_triple_quotes_span_lines_and_hold_double_quotes() -> None:
    m = parse('FROM x\nSYSTEM """You are "Bob".\n\n  Be brief.  """\nLICENSE after\n')
    assert m.system == 'You are "Bob".\n\n  Be brief.  '
    assert m.licenses == ["after"]


def test_double_quotes_span_lines_too() -> None:
    m = parse('FROM x\nTEMPLATE "{{ .System }}\n{{ .Prompt }}"\n')
    assert m.template == "{{ .System }}\n{{ .Prompt }}"


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ('""', ""),
        ('""""""', ""),
        ('"a"b"', 'a"b'),
        ('"""say """hi""" now"""', 'say """hi""" now'),
        ('"""""""', '"'),
        ('a"b', 'a"b'),
        ("'single'", "'single'"),
        (r'"back\slash\n"', r"back\slash\n"),
    ],
)
def test_quote_forms(argument: str, expected: str) -> None:
    assert parse(f"FROM x\nSYSTEM {argument}\n").system == expected


def test_a_closing_quote_followed_by_text_does_not_close() -> None:
    # Ollama only closes when the trimmed text *ends* with the quote.
    m = parse('FROM x\nSYSTEM """a""" b\nc"""\n')
    assert m.system == 'a""" b\nc'


# --- encodings and line ends ---------------------------------------------------------------

SAMPLE = 'FROM llama3\nSYSTEM """Héllo, 世界 🦙\nline 2"""\nPARAMETER stop </s>\n'


@pytest.mark.parametrize(
    "data",
    [
        SAMPLE.encode("utf-8"),
        b"\xef\xbb\xbf" + SAMPLE.encode("utf-8"),
        b"\xff\xfe" + SAMPLE.encode("utf-16-le"),
        b"\xfe\xff" + SAMPLE.encode("utf-16-be"),
        SAMPLE.encode("utf-16"),
        "\ufeff" + SAMPLE,
        SAMPLE.replace("\n", "\r\n"),
        SAMPLE.replace("\n", "\r").encode("utf-16"),
    ],
    ids=["utf8", "utf8-bom", "utf16le", "utf16be", "utf16-native", "str-bom", "crlf", "cr-utf16"],
)
def test_encodings_and_line_ends_parse_identically(data: str | bytes) -> None:
    m = parse(data)
    assert m == parse(SAMPLE)
    assert m.system == "Héllo, 世界 🦙\nline 2"
    assert m.parameters == {"stop": ["</s>"]}


def test_crlf_line_numbers_match_lf() -> None:
    assert error("FROM x\r\n\r\nFORM y\r\n").line == 3


def test_invalid_utf8_is_an_error_with_its_line() -> None:
    e = error(b"FROM x\nSYSTEM caf\xe9\n")
    assert e.line == 2
    assert "not valid UTF-8" in str(e)


def test_truncated_utf16_is_an_error() -> None:
    e = error(b"\xff\xfe" + "FROM x\n".encode("utf-16-le") + b"F")
    assert "not valid UTF-16" in str(e)


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x0c", "\x7f", "\x85"])
def test_control_characters_are_rejected_with_their_line(char: str) -> None:
    e = error(f"FROM x\nSYSTEM a{char}b\n")
    assert e.line == 2
    assert f"U+{ord(char):04X}" in str(e)


def test_oversized_input_is_refused() -> None:
    big = "FROM x\nSYSTEM " + "a" * MAX_MODELFILE_BYTES
    e = error(big)
    assert "limit" in str(e)
    with pytest.raises(ModelfileError):
        decode(big.encode())


# --- syntax errors with lines --------------------------------------------------------------


def test_error_str_is_source_line_message() -> None:
    e = error("FROM x\n\nFORM y\n")
    assert (e.line, e.source) == (3, "Modelfile")
    assert str(e).startswith('Modelfile:3: unknown instruction "FORM"')
    assert 'command must be one of "from", "license"' in str(e)
    with pytest.raises(ModelfileError) as info:
        parse("FROM x\nBOGUS y\n", source="models/Modelfile.dev")
    assert str(info.value).startswith('models/Modelfile.dev:2: unknown instruction "BOGUS"')


@pytest.mark.parametrize(
    ("line", "token"),
    [
        ("FROM: x", "FROM:"),
        ("FROM2 x", "FROM2"),
        ('"FROM" x', '\\"FROM\\"'),
        ("123", "123"),
        ("\u00a0", "\u00a0"),
        ("  \u2028 FROM x", "\u2028"),
    ],
)
def test_malformed_instruction_names(line: str, token: str) -> None:
    e = error(f"FROM x\n{line}\n")
    assert e.line == 2
    assert f'unknown instruction "{token}"' in str(e)


def test_unterminated_triple_quote_is_reported_where_it_started() -> None:
    e = error('FROM x\nSYSTEM """never closed\nmore\nand more\n')
    assert e.line == 2
    assert 'unterminated """ string' in str(e)
    assert "unexpected EOF" in str(e)


def test_unterminated_double_quote_is_reported_where_it_started() -> None:
    e = error('FROM x\nPARAMETER stop "abc\nFROM y\n')
    assert e.line == 2
    assert 'unterminated " string' in str(e)


def test_unterminated_quote_error_does_not_echo_the_text() -> None:
    e = error('FROM x\nSYSTEM """' + "secret " * 2000)
    assert "secret" not in str(e)
    assert len(str(e)) < 200


def test_text_after_a_closing_quote_leaves_the_string_open() -> None:
    e = error('FROM x\nSYSTEM "a" trailing\n')
    assert e.line == 2
    assert "unterminated" in str(e)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM", "missing argument: FROM needs a model name or path"),
        ("FROM   \t", "missing argument: FROM needs a model name or path"),
        ("FROM x\nSYSTEM", "missing argument: SYSTEM needs a value"),
        ("FROM x\nADAPTER ", "missing argument: ADAPTER needs a path"),
        ("FROM x\nPARAMETER", "missing argument: PARAMETER needs a name and a value"),
        ("FROM x\nPARAMETER   ", "missing argument: PARAMETER needs a name and a value"),
        ("FROM x\nPARAMETER stop", "missing argument: PARAMETER stop needs a value"),
        ("FROM x\nPARAMETER stop  ", "missing argument: PARAMETER stop needs a value"),
        ("FROM x\nMESSAGE", "missing argument: MESSAGE needs a role and content"),
        ("FROM x\nMESSAGE user", "missing argument: MESSAGE user needs content"),
    ],
)
def test_missing_arguments(text: str, message: str) -> None:
    e = error(text + "\n")
    assert e.line == text.count("\n") + 1
    assert e.reason == message


def test_empty_quoted_arguments_are_values() -> None:
    m = parse('FROM x\nSYSTEM ""\nMESSAGE assistant ""\nPARAMETER stop ""\n')
    assert m.system == ""
    assert m.messages == [("assistant", "")]
    assert m.parameters == {"stop": [""]}


@pytest.mark.parametrize("name", ["temp-x", "top.k", "stop:"])
def test_invalid_parameter_names(name: str) -> None:
    e = error(f"FROM x\nPARAMETER {name} 1\n")
    assert e.line == 2
    assert f'invalid parameter name "{name}"' in str(e)


@pytest.mark.parametrize("role", ["robot", "User", "SYSTEM", "tool", "user:"])
def test_message_roles_are_exactly_system_user_assistant(role: str) -> None:
    e = error(f"FROM x\n\nMESSAGE {role} hi\n")
    assert e.line == 3
    assert f'invalid message role "{role}"' in str(e)
    assert 'message role must be one of "system", "user", or "assistant"' in str(e)


# --- quote() -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("llama3.2", "llama3.2"),
        ("You are a pirate.", "You are a pirate."),
        ('say "hi"', 'say "hi"'),
        ("two\nlines", '"two\nlines"'),
        (" leading", '" leading"'),
        ("trailing ", '"trailing "'),
        ('multi\n"quoted"', '"""multi\n"quoted""""'),
        ("", '""'),
        ('"starts with a quote', '""""starts with a quote"""'),
        ("\ttab", '"\ttab"'),
    ],
)
def test_quote_follows_ollama_and_fixes_what_it_mangles(text: str, expected: str) -> None:
    assert quote(text) == expected
    assert parse(f"FROM x\nSYSTEM {quote(text)}\n").system == text


def test_quote_refuses_unrepresentable_text_unless_lenient() -> None:
    text = 'ends with """\nnext line'
    with pytest.raises(ModelfileError, match='a line ends with """'):
        quote(text, what="SYSTEM")
    assert quote(text, strict=False) == f'"""{text}"""'
    with pytest.raises(ModelfileError, match="U\\+000D"):
        quote("a\r\nb")
    # """ elsewhere, and at the very end, is fine
    with pytest.raises(ModelfileError):
        quote('"""\n  x')
    for ok in ['a """ b\nc', 'a\nb"""', 'x\n"""y']:
        assert parse(f"FROM x\nSYSTEM {quote(ok)}\n").system == ok
