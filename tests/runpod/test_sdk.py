"""Our handler's output as the real SDK (runpod 1.12) reads it, and the SDK's arguments and concurrency."""

from __future__ import annotations

import pytest

from config.settings import Settings
from tests.executor.conftest import save_workflow
from tests.fake_comfyui.harness import FakeComfyUI
from transports.runpod import sdk


async def test_sdk_moves_error_out_of_the_output_so_the_job_is_failed(handler_factory) -> None:
    from runpod.serverless.modules.rp_job import run_job

    result = await run_job(handler_factory(), {"id": "rp-e", "input": {"workflow": {}}})
    assert result["error"] == "'workflow' must be a non-empty object of nodes"
    assert result["output"]["details"]["type"] == "invalid_input"


async def test_sdk_turns_refresh_worker_into_stop_pod(fake_comfyui: FakeComfyUI, executor_factory,
                                                      handler_factory) -> None:
    from runpod.serverless.modules.rp_job import run_job

    async with executor_factory(fake_comfyui, refresh_worker=True):
        result = await run_job(handler_factory(refresh_worker=True),
                               {"id": "rp-r", "input": {"workflow": save_workflow()}})
    assert result["stopPod"] is True and "error" not in result
    assert "refresh_worker" not in result["output"] and result["output"]["images"]


@pytest.mark.parametrize(("env", "expected"), [
    ({}, 2),
    ({"pipeline_depth": 3, "comfyui_instances": 2}, 6),
    ({"pipeline_depth": 3, "comfyui_instances": 2, "refresh_worker": True}, 2),
    ({"comfyui_url": "http://a:1, http://b:2,", "pipeline_depth": 2}, 4),
])
def test_concurrency_is_what_the_executors_keep_queued(env: dict, expected: int) -> None:
    assert sdk.job_capacity(Settings(**env)) == expected


async def test_sdk_job_scaler_takes_our_concurrency() -> None:
    from runpod.serverless.modules.rp_scale import JobScaler

    scaler = JobScaler(sdk.config(lambda job: {}, Settings(pipeline_depth=2, comfyui_instances=2)))
    await scaler.set_scale()
    assert scaler.current_concurrency == 4 and scaler.jobs_queue.maxsize == 4


def test_sdk_parses_our_arguments() -> None:
    from runpod.serverless import parser

    local, _ = parser.parse_known_args(sdk.argv(Settings(serve_api_locally=True, api_host="127.0.0.1",
                                                         api_port=8123, comfy_log_level="WARNING")))
    assert (local.rp_serve_api, local.rp_api_host, local.rp_api_port, local.rp_log_level) == (
        True, "127.0.0.1", 8123, "WARN")
    once, _ = parser.parse_known_args(sdk.argv(Settings(), '{"input": {}}'))
    assert not once.rp_serve_api and once.test_input == '{"input": {}}'


def test_mode_follows_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNPOD_WEBHOOK_GET_JOB", raising=False)
    assert sdk.mode(Settings(serve_api_locally=True), None) == "local_api"
    assert sdk.mode(Settings(), None) == "test_input"
    monkeypatch.setenv("RUNPOD_WEBHOOK_GET_JOB", "https://api.runpod.ai/v2/x/job-take/$ID?gpu=a")
    assert sdk.mode(Settings(), None) == "platform"
    assert sdk.mode(Settings(), '{"input": {}}') == "test_input"


async def test_the_sdk_never_formats_an_outputs_bytes_into_its_debug_messages(fake_comfyui: FakeComfyUI,
                                                                             executor_factory,
                                                                             handler_factory) -> None:
    """run_job builds ``f"Handler output: {output}"`` and ``f"run_job return: {result}"`` whatever the log
    level: the output's repr leaves its base64 out, while JSON (what RunPod is sent) keeps it."""
    import json

    from runpod.serverless.modules.rp_job import run_job

    async with executor_factory(fake_comfyui):
        result = await run_job(handler_factory(), {"id": "rp-q", "input": {"workflow": save_workflow(size=64)}})
    data = result["output"]["images"][0]["data"]
    assert len(data) > 100
    assert data not in f"run_job return: {result}" and data not in f"Handler output: {result['output']}"
    assert json.loads(json.dumps(result))["output"]["images"][0]["data"] == data


def test_sdk_messages_below_its_level_are_dropped_before_any_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    from runpod.serverless.modules.rp_logger import LOG_LEVELS

    from tests.supervisor.fakes import RecordingLog
    from transports.runpod.redact import redact

    redacted: list[str] = []

    def counted(message: str) -> str:
        redacted.append(message)
        return redact(message)

    monkeypatch.setattr("transports.runpod.sdk.redact", counted)

    class SdkLogger:
        level = "INFO"

    log, sdk_logger = RecordingLog(), SdkLogger()
    emit = sdk.emitter(log, sdk_logger, LOG_LEVELS)
    emit("Handler output: {'images': [...]}" + "A" * 100_000, "DEBUG", "rp-1")
    emit("run_job return: {...}", "TRACE")
    assert redacted == [] and log.records == []
    emit("Started.", "INFO", "rp-1")
    emit("a tip", "TIP")
    sdk_logger.level = "DEBUG"
    emit("Handler output: {'images': [...]}", "DEBUG", "rp-1")
    assert [(level, fields["message"]) for level, _, fields in log.records] == [
        ("info", "Started."), ("info", "a tip"), ("debug", "Handler output: [17 characters left out]")]
    sdk_logger.level = "NOTSET"
    emit("Started.", "ERROR")
    assert len(log.records) == 3
