"""The state table of a managed process."""

from __future__ import annotations

import pytest

from supervisor.states import TRANSITIONS, InvalidStateChange, ProcessState, check_transition

S = ProcessState


def test_every_state_named_in_the_internals_doc_exists() -> None:
    assert {str(s) for s in S} == {"starting", "running", "backoff", "stopping", "stopped", "exited", "fatal"}


def test_fatal_is_a_dead_end() -> None:
    assert not [edge for edge in TRANSITIONS if edge[0] is S.FATAL]


@pytest.mark.parametrize("edge", [(S.STOPPED, S.RUNNING), (S.FATAL, S.STARTING), (S.STOPPING, S.RUNNING),
                                  (S.BACKOFF, S.RUNNING)])
def test_an_edge_missing_from_the_table_raises(edge: tuple[ProcessState, ProcessState]) -> None:
    with pytest.raises(InvalidStateChange):
        check_transition(*edge)


def test_each_edge_of_the_table_is_commented_in_its_source() -> None:
    import inspect

    import supervisor.states as module

    source = inspect.getsource(module)
    for old, new in TRANSITIONS:
        assert f"# {old} -> {new}" in source
