from __future__ import annotations

import pytest

from corral import errors


def test_every_error_has_a_unique_code() -> None:
    classes = [errors.CorralError, *errors._all_subclasses(errors.CorralError)]
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("model_not_found", 404, errors.ModelNotFound),
        ("queue_full", 503, errors.QueueFull),
        ("modelfile", 400, errors.ModelfileError),
        ("runner_crashed", 500, errors.RunnerCrashed),
        (None, 404, errors.NotFound),
        (None, 400, errors.InvalidRequest),
        ("unauthorized", 401, errors.Unauthorized),
        (None, 401, errors.Unauthorized),
        (None, 403, errors.Forbidden),
        ("too_large", 413, errors.RequestTooLarge),
        ("unheard-of", 500, errors.CorralError),
    ],
)
def test_error_for_code_rebuilds_the_class(code: str | None, status: int, expected: type) -> None:
    error = errors.error_for_code(code, "the message", status)
    assert type(error) is expected
    assert str(error) == "the message"


def test_modelfile_error_names_line() -> None:
    error = errors.ModelfileError('unknown instruction "FORM"', line=3)
    assert str(error) == 'Modelfile:3: unknown instruction "FORM"'
    assert error.line == 3 and error.status == 400


def test_exit_codes() -> None:
    assert errors.RequestCanceled.exit_code == 130
    assert errors.ModelNotFound("x").exit_code == 1
