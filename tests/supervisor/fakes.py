"""A fake clock and a fake spawner: the supervisor's state machine without real processes."""

from __future__ import annotations

import signal

from supervisor.process import ProcessSpec


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeHandle:
    """A child that exits when told to (``exit``), or when it gets SIGKILL (or SIGTERM unless stubborn)."""

    def __init__(self, spec: ProcessSpec, pid: int, stubborn: bool = False) -> None:
        self.spec = spec
        self.pid = pid
        self.status: int | None = None
        self.signals: list[int] = []
        self.stubborn = stubborn

    def poll(self) -> int | None:
        return self.status

    def signal_group(self, sig: int) -> None:
        self.signals.append(sig)
        if self.status is None and (sig == signal.SIGKILL or (sig == signal.SIGTERM and not self.stubborn)):
            self.status = -sig

    def exit(self, status: int) -> None:
        self.status = status


class FakeSpawner:
    def __init__(self) -> None:
        self.spawned: list[FakeHandle] = []
        self.next_pid = 100
        self.fail_next = 0
        self.stubborn = False

    def __call__(self, spec: ProcessSpec) -> FakeHandle:
        if self.fail_next:
            self.fail_next -= 1
            raise FileNotFoundError(f"no such file: {spec.argv[0]}")
        self.next_pid += 1
        handle = FakeHandle(spec, self.next_pid, self.stubborn)
        self.spawned.append(handle)
        return handle

    def of(self, name: str) -> list[FakeHandle]:
        return [h for h in self.spawned if h.spec.name == name]

    def last(self, name: str) -> FakeHandle:
        return self.of(name)[-1]


class RecordingLog:
    """Stands in for the structlog logger: remembers (level, event, fields)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict[str, object]]] = []

    def __getattr__(self, level: str):  # debug, info, warning, error
        def log(event: str, **fields: object) -> None:
            self.records.append((level, event, fields))
        return log

    def events(self, name: str) -> list[dict[str, object]]:
        return [fields for _, event, fields in self.records if event == name]
