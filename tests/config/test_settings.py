"""Settings: every variable read from the environment, every bad value refused with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys

import msgspec
import pytest

from config.settings import Settings, SettingsError, describe, env_name, fields, load

SEED_DEFAULTS = {
    "HTTP_API_MODE": False, "API_HOST": "0.0.0.0", "API_PORT": 8000, "SQLITE_DB_PATH": "/tmp/comfyui_jobs.db",
    "COMFY_LOG_LEVEL": "DEBUG", "BUCKET_ENDPOINT_URL": None, "WEBSOCKET_RECONNECT_ATTEMPTS": 5,
    "WEBSOCKET_RECONNECT_DELAY_S": 3.0, "WEBSOCKET_TRACE": False, "REFRESH_WORKER": False,
}


def test_seed_variables_have_the_seed_defaults() -> None:
    settings = load({})
    assert {name: getattr(settings, name.lower()) for name in SEED_DEFAULTS} == SEED_DEFAULTS


def test_every_field_has_a_description_and_a_default() -> None:
    for field in fields():
        assert describe(field), f"{env_name(field.name)} has no description"
        assert not field.required, f"{env_name(field.name)} has no default"


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        load({}).api_port = 1  # type: ignore[misc]


@pytest.mark.parametrize("raw", ["true", "TRUE", "1", "yes", "Yes", "on"])
def test_booleans_accept_true_spellings(raw: str) -> None:
    assert load({"HTTP_API_MODE": raw}).http_api_mode is True


@pytest.mark.parametrize("raw", ["false", "False", "0", "no", "NO", "off"])
def test_booleans_accept_false_spellings(raw: str) -> None:
    assert load({"WEBSOCKET_TRACE": raw}).websocket_trace is False


def _sample_good_value(field: msgspec.inspect.Field) -> tuple[str, object]:
    if isinstance(field.type, msgspec.inspect.Metadata) and (field.type.extra or {}).get("example"):
        return field.type.extra["example"], field.type.extra["example"]  # a required string with a format
    t = field.type.type if isinstance(field.type, msgspec.inspect.Metadata) else field.type
    if isinstance(t, msgspec.inspect.UnionType):
        t = next(x for x in t.types if not isinstance(x, msgspec.inspect.NoneType))
    if isinstance(t, msgspec.inspect.Metadata):
        if (t.extra or {}).get("example"):  # a string with a format of its own
            return t.extra["example"], t.extra["example"]
        t = t.type
    if isinstance(t, msgspec.inspect.BoolType):
        return "yes", True
    if isinstance(t, msgspec.inspect.IntType):
        return "7", 7
    if isinstance(t, msgspec.inspect.FloatType):
        return "7.5", 7.5
    if isinstance(t, msgspec.inspect.LiteralType):
        return str(t.values[-1]).lower(), t.values[-1]
    return "some-value", "some-value"


@pytest.mark.parametrize("field", fields(), ids=lambda f: env_name(f.name))
def test_every_variable_is_read_from_the_environment(field: msgspec.inspect.Field) -> None:
    raw, expected = _sample_good_value(field)
    assert getattr(load({env_name(field.name): raw}), field.name) == expected


BAD = [
    ("API_PORT", "abc", "an integer"), ("API_PORT", "0", ">= 1"), ("API_PORT", "70000", "<= 65535"),
    ("HTTP_API_MODE", "maybe", "a boolean"), ("REFRESH_WORKER", "", "a boolean"),
    ("WEBSOCKET_RECONNECT_ATTEMPTS", "-1", ">= 0"), ("WEBSOCKET_RECONNECT_DELAY_S", "soon", "a number"),
    ("JOB_TIMEOUT_S", "-5", "> 0"), ("SHUTDOWN_GRACE_S", "-1", ">= 0"), ("COMFY_LOG_LEVEL", "LOUD", "one of"),
    ("SQLITE_SYNCHRONOUS", "OFF", "one of"), ("COMFYUI_INSTANCES", "0", ">= 1"), ("MAX_REQUEST_MB", "x", "number"),
    ("CORS_ALLOW_ORIGINS", "https://a.example/path", "scheme://host[:port], no path"),
    ("CORS_ALLOW_ORIGINS", "evil.example", "comma-separated origins"),
    ("RUNPOD_OVERFLOW_BASE_URL", "file:///etc/passwd", "http(s) URL"),
    ("RUNPOD_OVERFLOW_BASE_URL", "https://api.runpod.ai/v2?x=1", "without query"),
    ("RUNPOD_OVERFLOW_ENDPOINT_ID", "../admin", "letters, digits"), ("RUNPOD_OVERFLOW_QUEUE_DEPTH", "-1", ">= 0"),
]


@pytest.mark.parametrize(("name", "raw", "expected"), BAD)
def test_bad_values_name_the_variable_the_value_and_what_is_expected(name: str, raw: str, expected: str) -> None:
    with pytest.raises(SettingsError) as err:
        load({name: raw})
    message = str(err.value)
    assert name in message and repr(raw) in message and expected in message and "\n" not in message


def test_every_numeric_and_boolean_variable_refuses_garbage() -> None:
    for field in fields():
        raw, _ = _sample_good_value(field)
        if raw in ("some-value",):
            continue
        with pytest.raises(SettingsError):
            load({env_name(field.name): "garbage"})


def test_empty_optional_string_means_unset() -> None:
    assert load({"BUCKET_ENDPOINT_URL": ""}).bucket_endpoint_url is None


def test_log_level_is_case_insensitive() -> None:
    assert load({"COMFY_LOG_LEVEL": "info"}).comfy_log_level == "INFO"


def test_a_bad_setting_stops_the_cli_with_exit_2_and_one_line() -> None:
    env = {**os.environ, "API_PORT": "abc"}
    proc = subprocess.run([sys.executable, "-m", "supervisor.cli", "migrate"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "API_PORT" in lines[0] and "'abc'" in lines[0] and "integer" in lines[0]
    assert proc.stdout == ""


def test_settings_is_a_msgspec_struct() -> None:
    assert isinstance(load({}), Settings) and msgspec.structs.fields(Settings)
