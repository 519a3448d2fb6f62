"""The event log on LittleFS: bounded, in order, and whole lines after a power cut at any point."""

import events
from eventlog import EventLog, describe, take_lines
from ramdisk import PowerCut, RamFlash, mount, unmount
from testkit import micropython_only

MOUNT = "/evlog"


def test_lines_say_what_happened():
    assert describe(events.EXCURSION, 835, 16200) == "excursion ended: peak 83.5 W over the limit for 16.2 s"
    assert describe(events.TRIP, 2, 0) == (
        "trip: too many stage-2 events; lockout, app.reset_supervisor() ends it")
    assert describe(events.TRIP_HELD, 1, 1) == "trip withheld (commissioning): excursion too long; no lockout"
    assert describe(events.TRIP_HELD, 1, 2) == (
        "trip withheld (no inverters configured): excursion too long; no lockout")
    assert describe(events.IMPLAUSIBLE, 1, 2) == "implausible meter data: voltage out of range on L3"
    assert describe(events.FAILSAFE_ENTERED, 1, 0) == "failsafe entered: meter data missing"
    assert describe(events.COMMISSION, 1800, 0) == (
        "commissioning for 30 min: excursions are recorded but do not trip")
    assert describe(events.COMMISSION, 0, 0) == "commissioning over: excursions trip again"
    assert describe(events.CONFIG_CHANGED, 0, 600, "export_limit_w 0 -> 600 W") == (
        "configuration: export_limit_w 0 -> 600 W")
    assert describe(events.BOOT, 0, 0) == "boot"


def test_every_event_kind_has_words_and_no_bare_number():
    kinds = [value for name, value in sorted(events.__dict__.items()) if name.isupper() and name != "NAMES"]
    assert len(kinds) >= 14
    for kind in kinds:
        text = describe(kind, 1, 1, "x 1 -> 2")
        assert not text.startswith("event "), text
        assert text.split(":")[0].strip() and not text.split(":")[0].strip().isdigit(), text
    # An unknown reason is named as such, never shown as a bare number.
    assert describe(events.FAILSAFE_ENTERED, 9, 0) == "failsafe entered: unknown (9)"


def test_a_configuration_change_is_logged_with_its_words_in_time_order():
    ring = events.EventRing(8)
    texts = [(0, "export_limit_w 0 -> 600 W"), (11, "invert False -> True")]
    ring.push(events.METER_LOST, 1000)
    ring.push(events.CONFIG_CHANGED, 2000, 0, 600)
    ring.push(events.EXCURSION, 3000, 50, 2000)
    ring.push(events.CONFIG_CHANGED, 4000, 11, 0)
    lines = take_lines(ring, 5000, boot_ms=0, notes=texts)
    assert lines == [
        "+1s meter lost",
        "+2s configuration: export_limit_w 0 -> 600 W",
        "+3s excursion ended: peak 5.0 W over the limit for 2.0 s",
        "+4s configuration: invert False -> True",
    ]
    assert texts == []


def test_lines_that_are_not_utf8_are_shown_not_raised():
    import os
    import random

    path = "/tmp/eventlog-test-%d.log" % random.getrandbits(30)
    log = EventLog(path)
    try:
        log.append(["+1s boot"])
        with open(path, "ab") as handle:
            handle.write(b"+2s caf\xc3\xa9 \xff\xfe broken\n+3s \xc3\n")
        log.append(["+4s fail-safe"])
        assert log.lines() == ["+1s boot", "+2s caf?? ?? broken", "+3s ?", "+4s fail-safe"]
    finally:
        for name in (path, path + ".1"):
            try:
                os.remove(name)
            except OSError:
                pass






@micropython_only
def test_events_are_stamped_and_kept_in_order():
    flash = RamFlash()
    mount(flash, MOUNT, format_first=True)
    try:
        log = EventLog(MOUNT + "/events.log", max_bytes=4096)
        ring = events.EventRing(8)
        ring.push(events.BOOT, 1000)
        ring.push(events.STAGE2, 21000, 835, 16200)
        lines = log.drain(ring, now_ms=31000, wall_s=1795500000)  # 2026-11-24 06:00:00 UTC
        assert lines == [
            "2026-11-24 05:59:30 boot",
            "2026-11-24 05:59:50 stage-2 excursion: over the limit for 16.2 s so far, peak 83.5 W over",
        ]
        ring.push(events.METER_LOST, 5000)
        log.drain(ring, now_ms=6000, boot_ms=0)
        assert log.lines()[-1] == "+5s meter lost"
    finally:
        unmount(MOUNT)


@micropython_only
def test_the_log_stays_bounded():
    flash = RamFlash()
    mount(flash, MOUNT, format_first=True)
    try:
        log = EventLog(MOUNT + "/events.log", max_bytes=1024)
        ring = events.EventRing(4)
        for n in range(200):
            ring.push(events.EXCURSION, n * 1000, n, 1000)
            log.drain(ring, n * 1000, boot_ms=0)
        import os

        total = sum(os.stat(MOUNT + "/" + name)[6] for name in os.listdir(MOUNT))
        assert total <= 1024 + 64
        kept = log.lines()
        assert kept[-1].endswith("peak 19.9 W over the limit for 1.0 s")
        assert 10 < len(kept) < 200
    finally:
        unmount(MOUNT)


@micropython_only
def test_a_power_cut_at_any_point_leaves_whole_lines():
    """Cut the power at every flash operation of a run of appends and rotations."""
    written = ["+%ds excursion peak 1.0 W over, 1.0 s" % n for n in range(40)]

    def run(flash):
        log = EventLog(MOUNT + "/events.log", max_bytes=600)
        for line in written:
            log.append([line])

    pristine = RamFlash()
    mount(pristine, MOUNT, format_first=True)
    unmount(MOUNT)
    probe = pristine.reboot()
    mount(probe, MOUNT)
    run(probe)
    unmount(MOUNT)
    operations = probe.operations
    assert operations > 40
    for cut in range(operations):
        flash = pristine.reboot()
        mount(flash, MOUNT)
        flash.cut_after(cut)
        try:
            run(flash)
        except PowerCut:
            pass
        unmount(MOUNT)
        mount(flash.reboot(), MOUNT)
        try:
            kept = EventLog(MOUNT + "/events.log").lines()
        finally:
            unmount(MOUNT)
        assert all(line in written for line in kept), (cut, kept)
        positions = [written.index(line) for line in kept]
        assert positions == sorted(positions), (cut, positions)
        if positions:  # nothing skipped inside what survived
            assert positions == list(range(positions[0], positions[-1] + 1)), (cut, positions)
