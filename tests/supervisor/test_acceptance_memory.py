"""``comfyui-worker run`` for real: memory hygiene. A ComfyUI over its RSS or VRAM limit is drained and restarted
between two jobs (never during one); a job that fails with an out-of-memory error gets ComfyUI's memory freed
(POST /free) and one more attempt; an attached ComfyUI over its VRAM limit gets POST /free."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from store import Store
from tests.fake_comfyui import FakeComfyUI
from tests.supervisor.harness import RunningDaemon
from tests.supervisor.test_acceptance_watchdog import fake, operations, submit

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")


def start(daemons: list[RunningDaemon], tmp_path: Path, **env: str) -> RunningDaemon:
    d = RunningDaemon(tmp_path, **env)
    daemons.append(d)
    d.start()
    d.wait_ready()
    return d


def check_drained_between_jobs(d: RunningDaemon, ids: list[str], limit: str) -> None:
    """Every job completed on its first attempt (none was cut short), and ComfyUI was restarted for ``limit``."""
    d.wait_jobs(ids, {"completed"}, 40)
    assert [d.jobs()[i].attempts for i in ids] == [1] * len(ids)
    requested = d.events("comfyui_restart_requested")
    assert requested and {r["reason"] for r in requested} == {"memory_restart"}
    assert {r["limit"] for r in requested} == {limit}
    assert not d.events("job_requeued")
    assert all(r["until_done"] for r in d.events("executor_draining"))  # the running job was never cut short
    assert operations(d)["memory_restart"] == len(requested)


def test_a_comfyui_over_its_rss_limit_restarts_between_two_jobs(tmp_path: Path,
                                                               daemons: list[RunningDaemon]) -> None:
    d = start(daemons, tmp_path, FAKE_COMFYUI_RSS_PER_PROMPT_MB="200", COMFYUI_MAX_RSS_MB="200",
              FAKE_COMFYUI_DELAY_MS="300")
    pid = int(d.components()["comfyui-0"]["pid"])
    ids = [submit(d, color) for color in range(3)]
    d.wait_restarted("comfyui-0", pid, timeout=30)
    check_drained_between_jobs(d, ids, "rss")
    first = d.events("comfyui_restart_requested")[0]
    assert first["rss_bytes"] > 200 * 1024 * 1024


def test_a_comfyui_over_its_vram_limit_restarts_between_two_jobs(tmp_path: Path,
                                                                daemons: list[RunningDaemon]) -> None:
    d = start(daemons, tmp_path, FAKE_COMFYUI_VRAM_TOTAL_MB="1000", FAKE_COMFYUI_VRAM_PER_PROMPT_MB="300",
              COMFYUI_MAX_VRAM_MB="500", FAKE_COMFYUI_DELAY_MS="300")
    pid = int(d.components()["comfyui-0"]["pid"])
    ids = [submit(d, color) for color in range(4)]
    d.wait_restarted("comfyui-0", pid, timeout=30)
    check_drained_between_jobs(d, ids, "vram")
    assert d.events("comfyui_restart_requested")[0]["vram_bytes"] >= 600 * 1024 * 1024  # from the 2nd prompt on


def test_an_out_of_memory_failure_frees_memory_and_runs_once_more(tmp_path: Path,
                                                                 daemons: list[RunningDaemon]) -> None:
    d = start(daemons, tmp_path)
    fake(d, "config", {"oom_prompts": 1})
    job_id = submit(d, 5)
    d.wait_jobs([job_id], {"completed"}, 20)
    stats = fake(d, "stats")
    assert stats["received"] == 2 and stats["requests"].get("POST /free") == 1
    assert d.jobs()[job_id].attempts == 1
    [event] = d.events("job_out_of_memory")
    assert event["exception_type"] == "torch.OutOfMemoryError" and event["job_id"] == job_id
    assert operations(d)["oom_retry"] == 1


def test_a_second_out_of_memory_failure_fails_the_job(tmp_path: Path, daemons: list[RunningDaemon]) -> None:
    """One more attempt only: a job that runs out of memory again fails with ComfyUI's error."""
    d = start(daemons, tmp_path)
    fake(d, "config", {"oom_prompts": 2})
    job_id = submit(d, 6)
    d.wait_jobs([job_id], {"failed"}, 20)
    error = d.jobs()[job_id].error
    assert error is not None and error["exception_type"] == "torch.OutOfMemoryError"
    assert fake(d, "stats")["received"] == 2 and operations(d)["oom_retry"] == 1


def test_an_attached_comfyui_over_its_vram_limit_gets_its_memory_freed(tmp_path: Path,
                                                                       daemons: list[RunningDaemon]) -> None:
    """COMFYUI_URL: nothing to restart, so POST /free between jobs instead; its RSS cannot be measured."""
    with FakeComfyUI(tmp_path / "attached", vram_total_mb=1000, vram_per_prompt_mb=300) as comfy:
        d = start(daemons, tmp_path, COMFYUI_URL=comfy.url, COMFYUI_MAX_VRAM_MB="500", COMFYUI_MAX_RSS_MB="1")
        ids = [submit(d, color) for color in range(3)]
        d.wait_jobs(ids, {"completed"}, 30)
        d.wait_for(lambda: comfy.stats()["requests"].get("POST /free"), 10, "POST /free")
        assert not d.events("comfyui_restart_requested")
        assert d.events("comfyui_memory_freed") and operations(d)["memory_freed"] >= 1
        assert len(d.events("comfyui_rss_unmeasured")) == 1
        store = Store(d.db_path)
        try:
            assert store.operations()["memory_freed"].last_detail["limit"] == "vram"  # type: ignore[index]
        finally:
            store.close()
