"""The supervisor's state on LittleFS: a lockout survives a reboot and a power cut at every step of its save."""

import events
from cfgstore import ConfigStore
from lockout_store import LockoutStore
from ramdisk import PowerCut, RamFlash, mount, unmount
from reading import Reading
from supervisor import TRIP_LONG_EXCURSION, Supervisor
from testkit import micropython_only

MOUNT = "/lockout_test"






def _store(path):
    supervisor = Supervisor(events.EventRing(8), export_limit_w=0, trip_s=5, lockout_s=3600)
    return LockoutStore(supervisor, ConfigStore(path))


def _trip(supervisor):
    """Five seconds of 500 W export over a 0 W limit, one sample a second."""
    reading = Reading()
    reading.valid = True
    reading.power_dw = -5000
    for second in range(8):
        reading.seq += 1
        reading.t_ms = second * 1000
        supervisor.step(reading.t_ms, reading)
    assert supervisor.tripped and supervisor.trip_reason == TRIP_LONG_EXCURSION


@micropython_only
def test_a_lockout_survives_a_power_cut_at_every_step_of_its_save():
    # The old state: a clean history saved once. The new one: a trip with an hour of lockout.
    flash = RamFlash(block_size=512, block_count=32)
    mount(flash, MOUNT, format_first=True)
    store = _store(MOUNT + "/supervisor.json")
    store.save()
    _trip(store.supervisor)
    new_lockout_s = store.supervisor.lockout_left_s
    unmount(MOUNT)
    image = bytes(flash.data)

    outcomes = set()
    cut_after = 0
    while True:
        flash = RamFlash(512, 32, image)
        mount(flash, MOUNT)
        store_now = _store(MOUNT + "/supervisor.json")
        _trip(store_now.supervisor)
        flash.cut_after(cut_after)
        finished = True
        try:
            store_now.save()
        except PowerCut:
            finished = False
        try:
            unmount(MOUNT)
        except (OSError, PowerCut):
            pass
        rebooted = flash.reboot()
        mount(rebooted, MOUNT)
        after = _store(MOUNT + "/supervisor.json")
        problem = after.load()
        unmount(MOUNT)
        assert problem is None, (cut_after, problem)  # never neither: the old or the new state
        if after.supervisor.tripped:
            assert after.supervisor.lockout_left_s == new_lockout_s and after.supervisor.trips == 1
            outcomes.add("new")
        else:
            assert after.supervisor.trips == 0
            outcomes.add("old")
        if finished:
            break
        cut_after += 1
    assert outcomes == {"old", "new"} and cut_after > 2


def test_load_refuses_a_file_of_another_shape_and_keeps_a_fresh_state():
    import os

    from test_cfg_repl import _fresh_dir

    directory = _fresh_dir()
    path = directory + "/supervisor.json"
    for text, expected in (
        ('{"state": [1, 2, 3]}', "does not match"),
        ('{"state": "tripped"}', "corrupt"),
        ("[1, 2", "corrupt"),
    ):
        with open(path, "w") as file:
            file.write(text)
        store = _store(path)
        problem = store.load()
        assert expected in problem, problem
        assert not store.supervisor.tripped and store.supervisor.trips == 0
    os.remove(path)
    assert "none saved yet" in _store(path).load()


def test_save_if_changed_writes_only_when_the_version_moved():
    from test_cfg_repl import _fresh_dir

    store = _store(_fresh_dir() + "/supervisor.json")
    store.save_if_changed()
    assert store.saves == 0
    _trip(store.supervisor)
    store.save_if_changed()
    store.save_if_changed()
    assert store.saves == 1
    fresh = _store(store.store.path)
    assert fresh.load() is None and fresh.supervisor.tripped
