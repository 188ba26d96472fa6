"""Modelfile semantics (what each instruction does) and the canonical renderer."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from corral.errors import ModelfileError
from corral.modelfile import MAX_STOP_SEQUENCES, Modelfile, parse, parse_file


def error(text: str) -> ModelfileError:
    with pytest.raises(ModelfileError) as info:
        parse(text)
    return info.value


# --- FROM ------------------------------------------------------------------------------------


def test_no_from_line() -> None:
    e = error("# just a comment\nSYSTEM hi\nPARAMETER top_k 1\n")
    assert str(e) == "no FROM line"
    assert e.line == 0
    assert str(error("")) == "no FROM line"


def test_several_from_lines_keep_the_first_as_base() -> None:
    m = parse("FROM ./model.gguf\nSYSTEM s\nFROM ./mmproj.gguf\nFROM ./other.gguf\n")
    assert m.from_ == "./model.gguf"
    assert m.extra_froms == ["./mmproj.gguf", "./other.gguf"]


@pytest.mark.parametrize("instruction", ["FROM", "ADAPTER", "DRAFT", "RENDERER", "PARSER"])
def test_required_values_may_not_be_empty_strings(instruction: str) -> None:
    e = error(f'FROM x\n{instruction} ""\n')
    assert e.line == 2
    assert e.reason.startswith(f"missing argument: {instruction} needs")


# --- repeats ---------------------------------------------------------------------------------


def test_last_value_wins_for_single_valued_instructions_and_parameters() -> None:
    m = parse(
        "FROM x\nSYSTEM one\nSYSTEM two\nTEMPLATE a\nTEMPLATE b\nPARAMETER temperature 0.1\n"
        "PARAMETER temperature 0.9\nRENDERER r1\nRENDERER r2\nPARSER p1\nPARSER p2\n"
        "DRAFT d1\nDRAFT d2\nREQUIRES 0.1.0\nREQUIRES 0.2.0\n"
    )
    assert (m.system, m.template, m.parameters) == ("two", "b", {"temperature": 0.9})
    assert (m.renderer, m.parser, m.draft, m.requires) == ("r2", "p2", "d2", "0.2.0")


def test_repeated_stop_lines_accumulate_in_order() -> None:
    m = parse(
        'FROM x\nPARAMETER stop <|im_end|>\nPARAMETER num_ctx 4096\nPARAMETER stop "User:"\n'
        'PARAMETER stop " Assistant:"\n'
    )
    assert m.parameters == {"stop": ["<|im_end|>", "User:", " Assistant:"], "num_ctx": 4096}


def test_adapters_licenses_and_messages_accumulate() -> None:
    m = parse(
        "FROM x\nADAPTER a.gguf\nLICENSE one\nMESSAGE system be kind\nLICENSE two\n"
        "MESSAGE user hi\nMESSAGE assistant hello\nADAPTER b.gguf\n"
    )
    assert m.adapters == ["a.gguf", "b.gguf"]
    assert m.licenses == ["one", "two"]
    assert m.messages == [("system", "be kind"), ("user", "hi"), ("assistant", "hello")]


def test_too_many_stop_values_are_refused_at_their_line() -> None:
    lines = ["FROM x"] + [f"PARAMETER stop s{i}" for i in range(MAX_STOP_SEQUENCES + 1)]
    e = error("\n".join(lines))
    assert e.line == MAX_STOP_SEQUENCES + 2
    assert "too many" in e.reason


# --- parameters ------------------------------------------------------------------------------


def test_parameters_are_typed() -> None:
    m = parse(
        "FROM x\nPARAMETER temperature 0.7\nPARAMETER num_ctx 8192\nPARAMETER use_mmap false\n"
        'PARAMETER seed -1\nPARAMETER top_p "0.95"\n'
    )
    assert m.parameters == {
        "temperature": 0.7,
        "num_ctx": 8192,
        "use_mmap": False,
        "seed": -1,
        "top_p": 0.95,
    }
    assert type(m.parameters["num_ctx"]) is int
    assert type(m.parameters["temperature"]) is float


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("PARAMETER foo 1", 'unknown parameter "foo"'),
        ("PARAMETER Temperature 0.7", 'unknown parameter "Temperature"'),
        ("PARAMETER tfs_z 1", 'unknown parameter "tfs_z"'),
        ("PARAMETER numa true", 'unknown parameter "numa"'),
        ("PARAMETER temperature hot", 'parameter "temperature" must be a number, got "hot"'),
        ("PARAMETER num_ctx abc", 'parameter "num_ctx" must be an integer, got "abc"'),
        ("PARAMETER num_ctx 2048.0", 'parameter "num_ctx" must be an integer, got "2048.0"'),
        ("PARAMETER use_mmap yes", 'parameter "use_mmap" must be true or false, got "yes"'),
    ],
)
def test_bad_parameters_name_the_parameter_and_line(line: str, message: str) -> None:
    e = error(f"FROM x\n# comment\n{line}\n")
    assert e.line == 3
    assert e.reason.startswith(message)
    assert str(e).startswith(f"Modelfile:3: {message}")


def test_deprecated_parameters_warn_and_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="corral.modelfile"):
        m = parse(
            "FROM x\nPARAMETER mirostat 2\nPARAMETER penalize_newline not-a-bool\n"
            "PARAMETER top_k 5\n",
            source="my.Modelfile",
        )
    assert m.parameters == {"top_k": 5}
    assert m.warnings == [
        'my.Modelfile:2: parameter "mirostat" is deprecated and was ignored',
        'my.Modelfile:3: parameter "penalize_newline" is deprecated and was ignored',
    ]
    assert [r.getMessage() for r in caplog.records] == m.warnings


# --- REQUIRES --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("0.14.0", "0.14.0"),
        ("v0.14.0", "0.14.0"),
        ("1", "1"),
        ("1.2", "1.2"),
        ("1.2.3-rc.1+build.5", "1.2.3-rc.1+build.5"),
    ],
)
def test_requires_accepts_semver(written: str, stored: str) -> None:
    assert parse(f"FROM x\nREQUIRES {written}\n").requires == stored


@pytest.mark.parametrize("written", ["abc", "01.2.3", "1.2.3.4", "1-rc", "vv1.0.0", "1.2.3-01"])
def test_requires_rejects_other_versions(written: str) -> None:
    e = error(f"FROM x\nREQUIRES {written}\n")
    assert e.line == 2
    assert "valid semver" in e.reason


# --- equality --------------------------------------------------------------------------------


def test_equality_ignores_warnings_only() -> None:
    a = parse("FROM x\nPARAMETER mirostat 1\nPARAMETER top_k 3\n")
    b = parse("FROM x\nPARAMETER top_k 3\n")
    assert a.warnings and not b.warnings
    assert a == b
    assert a != parse("FROM x\nPARAMETER top_k 4\n")
    assert a != parse("FROM y\nPARAMETER top_k 3\n")
    assert Modelfile(from_="x", requires="v1.0.0") == Modelfile(from_="x", requires="1.0.0")


# --- parse_file ------------------------------------------------------------------------------


def test_parse_file_reads_bytes_and_names_the_file_in_errors(tmp_path: Path) -> None:
    good = tmp_path / "Modelfile"
    good.write_bytes("FROM llama3\nSYSTEM héllo\n".encode("utf-16"))
    assert parse_file(good) == Modelfile(from_="llama3", system="héllo")
    bad = tmp_path / "Broken.modelfile"
    bad.write_text("FROM x\nPARAMETER top_k many\n")
    with pytest.raises(ModelfileError) as info:
        parse_file(bad)
    assert str(info.value).startswith(f'{bad}:2: parameter "top_k" must be an integer')


def test_parse_file_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelfileError, match="cannot read Modelfile"):
        parse_file(tmp_path / "nope")


# --- render ----------------------------------------------------------------------------------


def test_render_golden() -> None:
    m = Modelfile(
        from_="llama3.2:latest",
        parameters={"temperature": 0.7, "stop": ["<|eot_id|>", " User:"], "num_ctx": 1000000},
        template="{{ .System }}\n{{ .Prompt }}",
        system='You are "Mario".',
        adapters=["./lora.gguf"],
        licenses=["MIT", "line 1\nline 2"],
        messages=[("user", "Is it hot?"), ("assistant", '  yes, "very"\n')],
        requires="v0.14.0",
        renderer="qwen3-coder",
        extra_froms=["./mmproj.gguf"],
    )
    assert m.render() == (
        "FROM llama3.2:latest\n"
        "ADAPTER ./lora.gguf\n"
        "FROM ./mmproj.gguf\n"
        'TEMPLATE "{{ .System }}\n{{ .Prompt }}"\n'
        'SYSTEM You are "Mario".\n'
        "RENDERER qwen3-coder\n"
        "REQUIRES 0.14.0\n"
        "PARAMETER temperature 0.7\n"
        "PARAMETER stop <|eot_id|>\n"
        'PARAMETER stop " User:"\n'
        "PARAMETER num_ctx 1000000\n"
        "LICENSE MIT\n"
        'LICENSE "line 1\nline 2"\n'
        "MESSAGE user Is it hot?\n"
        'MESSAGE assistant """  yes, "very"\n"""\n'
    )
    assert str(m) == m.render()
    assert parse(m.render()) == m


def test_render_float_formats() -> None:
    m = Modelfile(from_="x", parameters={"temperature": 1.0, "top_p": 1e-05, "min_p": 2e6})
    assert m.render().splitlines()[1:] == [
        "PARAMETER temperature 1",
        "PARAMETER top_p 1e-05",
        "PARAMETER min_p 2e+06",
    ]
    assert parse(m.render()) == m


@pytest.mark.parametrize(
    ("modelfile", "message"),
    [
        (Modelfile(), "no FROM line"),
        (Modelfile(from_=""), "cannot write FROM: the value is empty"),
        (Modelfile(from_="x", adapters=[""]), "cannot write ADAPTER"),
        (Modelfile(from_="x", parameters={"foo": 1}), 'unknown parameter "foo"'),
        (Modelfile(from_="x", parameters={"mirostat": 1}), "deprecated"),
        (Modelfile(from_="x", parameters={"num_ctx": "4096"}), 'parameter "num_ctx" must be'),
        (Modelfile(from_="x", parameters={"num_ctx": True}), 'parameter "num_ctx" must be'),
        (Modelfile(from_="x", parameters={"temperature": float("nan")}), "temperature"),
        (Modelfile(from_="x", parameters={"temperature": 1e39}), "temperature"),
        (Modelfile(from_="x", parameters={"use_mmap": 1}), "use_mmap"),
        (Modelfile(from_="x", parameters={"stop": "</s>"}), "list of strings"),
        (Modelfile(from_="x", parameters={"stop": []}), "at least one"),
        (Modelfile(from_="x", messages=[("tool", "x")]), "invalid message role"),
        (Modelfile(from_="x", requires="latest"), "valid semver"),
        (Modelfile(from_="x", system="a\x00b"), "U+0000"),
        (Modelfile(from_="x", system='x"""\ny'), 'cannot write SYSTEM: a line ends with """'),
        (Modelfile(from_="x", messages=[("user", '"""\n')]), "cannot write MESSAGE user"),
    ],
)
def test_render_refuses_what_no_modelfile_can_say(modelfile: Modelfile, message: str) -> None:
    with pytest.raises(ModelfileError, match=None) as info:
        modelfile.render()
    assert message in str(info.value)


def test_render_round_trips_a_parsed_file() -> None:
    text = (
        "# My model\nfrom ./model.gguf\nparameter stop User:\nPARAMETER stop Assistant:\n"
        'system """\n  Indented\n    "quoted"\n"""\nmessage user """a "b" c"""\n'
        "PARAMETER repeat_penalty 1.1\nLICENSE '''\n"
    )
    m = parse(text)
    assert parse(m.render()) == m
    assert m.licenses == ["'''"]
