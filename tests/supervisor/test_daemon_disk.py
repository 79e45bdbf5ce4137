"""The supervisor on a store that refuses writes (a full disk): it keeps supervising and writes the components'
latest states once the store takes them again. The refusal is SQLite's own (``PRAGMA query_only``): every write
fails, as every WAL append does on a disk with no byte left."""

from __future__ import annotations

from pathlib import Path

from store import Store
from tests.supervisor.test_daemon import World


def test_component_writes_are_deferred_not_fatal_and_written_once_the_store_has_room(tmp_path: Path,
                                                                                     store: Store) -> None:
    world = World(tmp_path, store)
    store.set_component("http", "running")  # a row of the previous run
    store.conn.execute("PRAGMA query_only = ON")
    world.daemon.start()  # clear_components and every state write fail: start anyway
    world.comfy_ready()
    world.spawner.last("executor-0").exit(1)
    world.after(0.1)
    assert world.log.events("component_write_deferred")
    assert len(world.spawner.spawned) == 3 and world.daemon.unwritten
    store.conn.execute("PRAGMA query_only = OFF")
    world.after(5)  # past COMPONENT_RETRY_S
    assert world.states() == {"comfyui-0": "running", "executor-0": "running", "http": "running",
                              "supervisor": "running"}
    assert world.log.events("component_writes_resumed") and not world.daemon.unwritten


def test_a_fatal_child_on_a_full_store_still_drains_the_daemon_without_crashing(tmp_path: Path,
                                                                               store: Store) -> None:
    world = World(tmp_path, store, restart_max_failures=1)
    world.daemon.start()
    world.comfy_ready()
    store.conn.execute("PRAGMA query_only = ON")
    world.spawner.stubborn = False
    world.spawner.last("http").exit(1)  # one failure is fatal: begin_shutdown writes the supervisor's state
    for _ in range(50):
        world.after(1)
        if world.daemon.done:
            break
    assert world.daemon.done and world.daemon.exit_code == 1
    assert world.log.events("child_fatal") and world.log.events("component_write_deferred")
