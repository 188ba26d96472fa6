from __future__ import annotations

import logging
from pathlib import Path

import pytest

from corral import envconfig
from corral.durations import FOREVER
from corral.errors import ConfigError


def test_defaults(tmp_path: Path) -> None:
    assert envconfig.host().url == "http://127.0.0.1:11434"
    assert envconfig.models() == envconfig.home() / "models"
    assert envconfig.keep_alive() == 300
    assert envconfig.max_queue() == 512
    assert envconfig.load_timeout() == 300
    assert envconfig.debug() is False


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("0.0.0.0", "http://0.0.0.0:11434"),
        (":8080", "http://127.0.0.1:8080"),
        ("example.com:1234", "http://example.com:1234"),
        ("https://example.com", "https://example.com:443"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("'127.0.0.1:5000'", "http://127.0.0.1:5000"),
    ],
)
def test_host_forms(monkeypatch: pytest.MonkeyPatch, value: str, url: str) -> None:
    monkeypatch.setenv("CORRAL_HOST", value)
    assert envconfig.host().url == url


@pytest.mark.parametrize("value", ["ftp://x:1", "127.0.0.1:99999", "host:port"])
def test_bad_host_is_config_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CORRAL_HOST", value)
    with pytest.raises(ConfigError, match="CORRAL_HOST"):
        envconfig.host()


def test_keep_alive_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_KEEP_ALIVE", "10m")
    assert envconfig.keep_alive() == 600
    monkeypatch.setenv("CORRAL_KEEP_ALIVE", "90")
    assert envconfig.keep_alive() == 90
    monkeypatch.setenv("CORRAL_KEEP_ALIVE", "-1")
    assert envconfig.keep_alive() == FOREVER


def test_bad_values_warn_and_fall_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CORRAL_MAX_QUEUE", "lots")
    monkeypatch.setenv("CORRAL_KEEP_ALIVE", "soon")
    with caplog.at_level(logging.WARNING):
        assert envconfig.max_queue() == 512
        assert envconfig.keep_alive() == 300
    assert "CORRAL_MAX_QUEUE" in caplog.text and "CORRAL_KEEP_ALIVE" in caplog.text


def test_bool_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, expected in [
        ("1", True),
        ("true", True),
        ("false", False),
        ("0", False),
        ("yes", True),
    ]:
        monkeypatch.setenv("CORRAL_DEBUG", value)
        assert envconfig.debug() is expected


def test_describe_lists_every_variable_and_redacts_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_API_KEY", "secret")
    described = {var.name: var for var in envconfig.describe()}
    assert {"CORRAL_HOST", "CORRAL_MODELS", "CORRAL_KEEP_ALIVE", "CORRAL_MAX_QUEUE"} <= set(
        described
    )
    assert described["CORRAL_API_KEY"].value == "***"
    assert all(var.help for var in described.values())


def test_max_body(monkeypatch: pytest.MonkeyPatch) -> None:
    assert envconfig.max_body() == 64 * 1024 * 1024
    monkeypatch.setenv("CORRAL_MAX_BODY", "65536")
    assert envconfig.max_body() == 65536
    monkeypatch.setenv("CORRAL_MAX_BODY", "10")
    assert envconfig.max_body() == 64 * 1024 * 1024


def test_settings_carry_the_safety_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from corral.daemon.settings import Settings

    monkeypatch.setenv("CORRAL_ORIGINS", "https://a.example, chrome-extension://*")
    monkeypatch.setenv("CORRAL_API_KEY", "k")
    settings = Settings.from_env()
    assert settings.origins == ("https://a.example", "chrome-extension://*")
    assert settings.api_key == "k" and settings.max_body == 64 * 1024 * 1024


def test_cuda_visible_devices_unset_empty_and_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert envconfig.cuda_visible_devices() is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert envconfig.cuda_visible_devices() == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", ' "1, GPU-abc ,"')
    assert envconfig.cuda_visible_devices() == ["1", "GPU-abc"]
    described = {var.name: var.value for var in envconfig.describe()}
    assert described["CUDA_VISIBLE_DEVICES"] == "1,GPU-abc"


def test_scheduler_defaults_are_automatic(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (envconfig.num_parallel(), envconfig.max_loaded_models(), envconfig.max_queue()) == (
        0,
        0,
        512,
    )
    monkeypatch.setenv("CORRAL_NUM_PARALLEL", "2")
    monkeypatch.setenv("CORRAL_MAX_QUEUE", "0")  # below the minimum: the default, with a warning
    assert (envconfig.num_parallel(), envconfig.max_queue()) == (2, 512)
