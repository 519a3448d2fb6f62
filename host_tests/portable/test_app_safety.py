"""Issue 8 in the running firmware: plausibility, the supervisor's trip and lockout, events, persistence.

The gateway runs on the fake chip with a DTSU666 register slave (test_app_loop's
Bench); events are read where they end up: the event log and telemetry.
"""

import os

import allocs
import app
import controller
import eventlog
import events
import plausibility
from guard import FAILSAFE_IMPLAUSIBLE, FAILSAFE_TRIP, max_current_ma
from test_app_loop import Bench
from test_cfg_repl import _fresh_dir
from testkit import micropython_only


class Telemetry:
    """Stands in for online.Online: records what the firmware hands to MQTT."""

    def __init__(self):
        self.events = []

    def poll(self, now_ms, net_up=True):
        pass

    def publish_event(self, kind, t_ms, a=0, b=0):
        self.events.append((kind, a, b))

    def close(self):
        pass

    def describe(self):
        return []


def _kinds(recorder, kind):
    return [event for event in recorder.events if event[0] == kind]


def _targets_are_failsafe(gateway):
    fleet, ctl = gateway.fleet, gateway.controller
    return all(fleet.target_dw[index] == ctl.failsafe_dw[index] for index in range(fleet.count))


def test_max_current_follows_the_model_and_the_ct_ratio():
    assert max_current_ma("ddsu666") == 80000 and max_current_ma("sdm120") == 45000
    assert max_current_ma("sdm630") == 100000 and max_current_ma("dtsu666") == 80000
    assert max_current_ma("dtsu666", 20) == 120000  # 100 A : 5 A CTs, 6 A secondary rating
    assert max_current_ma("dtsu666", 120) == 720000  # a 600/5 CT
    assert max_current_ma("dtsu666", 9999) == 3000000  # lib/meter/plausibility.py's ceiling


def test_implausible_voltage_fails_safe_with_one_event_per_episode_and_recovers():
    bench = Bench(export_limit_w=0, load_w=500)
    recorder = bench.app.online = Telemetry()
    try:
        gateway = bench.app
        bench.run(120)
        assert gateway.controller.mode == controller.MODE_REGULATING and gateway.guard.checks > 0
        bench.meter.set_float(0x2008, 3500.0)  # Ub 350 V: no grid stays connected at that
        bench.run(160)  # 40 s: several voltage/current reads
        # The driver's own verdict stands (its frames are good); the guard holds the controller instead.
        assert gateway.guard.implausible and gateway.reading.valid
        assert gateway.controller.hold_reason == FAILSAFE_IMPLAUSIBLE
        assert gateway.controller.mode == controller.MODE_FAILSAFE and _targets_are_failsafe(gateway)
        assert _kinds(recorder, events.IMPLAUSIBLE) == [(events.IMPLAUSIBLE, plausibility.VOLTAGE, 1)]
        assert _kinds(recorder, events.FAILSAFE_ENTERED) == [(events.FAILSAFE_ENTERED, FAILSAFE_IMPLAUSIBLE, 0)]
        assert not _kinds(recorder, events.METER_LOST)  # the meter answers: not a lost meter
        bench.meter.set_float(0x2008, 2300.0)
        bench.run(160)
        assert not gateway.guard.implausible and gateway.reading.valid
        assert gateway.controller.mode == controller.MODE_REGULATING
        assert len(_kinds(recorder, events.FAILSAFE_LEFT)) == 1
        assert gateway.guard.implausible_episodes == 1
    finally:
        bench.close()


def test_power_above_voltage_times_current_is_implausible():
    bench = Bench(export_limit_w=0, load_w=500)
    recorder = bench.app.online = Telemetry()
    try:
        bench.run(120)
        for _ in range(160):
            # L2 exports 2 kW with a current of 0.1 A: the meter's power and current disagree.
            bench.meter.set_float(0x2016, -20000.0)
            bench.meter.set_float(0x200E, 100.0)
            bench.period()
        assert bench.app.guard.implausible
        assert _kinds(recorder, events.IMPLAUSIBLE)[0][1:] == (plausibility.POWER, 1)
    finally:
        bench.close()


def test_a_load_step_between_power_and_current_reads_is_not_implausible():
    bench = Bench(export_limit_w=0, load_w=200)
    try:
        bench.run(120)
        for load_w in (3000, 100, 2500, 150) * 6:  # a load switching every 2.5 s
            bench.load_w = load_w
            bench.run(10)
        assert bench.app.guard.checks >= 5 and bench.app.guard.implausible_episodes == 0
    finally:
        bench.close()


def _trip(bench):
    """Export far above the limit that the plant does not correct (a stuck inverter) until the trip."""
    gateway = bench.app
    bench.run(120)
    for _ in range(200):
        if gateway.supervisor.tripped:
            break
        bench.load_w = -2000  # the meter sees 2 kW export whatever the limits
        bench.run(1)
    assert gateway.supervisor.tripped


def test_a_trip_holds_fail_safe_across_a_reboot_until_the_installer_reset():
    directory = _fresh_dir()
    bench = Bench(export_limit_w=0, load_w=500, data_dir=directory, excursion_trip_s=5, lockout_h=1)
    recorder = bench.app.online = Telemetry()
    try:
        _trip(bench)
        gateway = bench.app
        bench.load_w = 500  # export is back under the limit, the meter is valid
        bench.run(80)
        assert gateway.reading.valid and gateway.controller.mode == controller.MODE_FAILSAFE
        assert _targets_are_failsafe(gateway)
        assert _kinds(recorder, events.TRIP) and (events.FAILSAFE_ENTERED, FAILSAFE_TRIP, 0) in recorder.events
        assert gateway.lockout.saves >= 1
    finally:
        bench.close()

    # Reboot: the same files, a new gateway. The lockout continues.
    rebooted = Bench(export_limit_w=0, load_w=500, data_dir=directory, excursion_trip_s=5, lockout_h=1)
    recorder = rebooted.app.online = Telemetry()
    try:
        gateway = rebooted.app
        assert gateway.supervisor.tripped and gateway.supervisor.trips == 1
        rebooted.run(120)
        assert gateway.reading.valid and gateway.controller.mode != controller.MODE_REGULATING
        assert _targets_are_failsafe(gateway)
        gateway.reset_supervisor()
        rebooted.run(80)
        assert gateway.controller.mode == controller.MODE_REGULATING
        assert _kinds(recorder, events.RESET)
        assert not gateway.supervisor.tripped
        gateway.log()
        lines = gateway.jobs.log_lines()
        assert any("trip" in line for line in lines) and any("installer reset" in line for line in lines)
        assert sum("boot" in line for line in lines) == 2
    finally:
        rebooted.close()


def test_every_event_goes_once_to_the_log_and_once_to_telemetry():
    bench = Bench(export_limit_w=0, load_w=500)
    recorder = bench.app.online = Telemetry()
    try:
        gateway = bench.app
        bench.run(120)
        bench.meter.online = False
        bench.run(40)
        bench.meter.online = True
        bench.run(40)
        gateway.apply("export_limit_w", 0)
        bench.run(2)
        kinds = [event[0] for event in recorder.events]
        for kind in (events.BOOT, events.METER_LOST, events.METER_BACK, events.FAILSAFE_ENTERED,
                     events.FAILSAFE_LEFT, events.CONFIG_CHANGED):
            assert kinds.count(kind) == 1, (kind, kinds)
        assert len(gateway.memory_log) == len(recorder.events)
        for index in range(len(kinds)):
            assert eventlog.NAMES[kinds[index]] in gateway.memory_log[index]
        assert gateway.ring.count == 0
    finally:
        bench.close()


def test_energy_counters_survive_a_reboot_and_are_saved_sparingly():
    directory = _fresh_dir()
    bench = Bench(export_limit_w=0, load_w=3600, data_dir=directory, energy_persist_min=1)
    try:
        bench.run(4 * 150)  # 150 s importing about 3.6 kW minus what the inverters make
        energy = bench.app.energy
        assert energy.import_wh > 20 and energy.pv_wh > 20
        assert 2 <= energy.saves <= 4  # at most once a minute
    finally:
        bench.close()  # a clean stop saves
    saved = (energy.import_wh, energy.export_wh, energy.pv_wh)
    rebooted = Bench(export_limit_w=0, load_w=3600, data_dir=directory)
    try:
        energy = rebooted.app.energy
        assert (energy.import_wh, energy.export_wh, energy.pv_wh) == saved
    finally:
        rebooted.close()


def test_a_corrupt_supervisor_file_starts_fresh_with_a_logged_warning():
    directory = _fresh_dir()
    with open(directory + "/supervisor.json", "w") as file:
        file.write('{"state": [1, 2, "x"]}')
    bench = Bench(data_dir=directory)
    try:
        assert not bench.app.supervisor.tripped and bench.app.supervisor.trips == 0
        bench.run(2)
        lines = bench.app.jobs.log_lines()
        assert any("supervisor state starts fresh" in line and "corrupt" in line for line in lines)
    finally:
        bench.close()
    os.remove(directory + "/supervisor.json")


def test_status_shows_supervisor_and_safety_lines():
    bench = Bench(export_limit_w=0, load_w=500)
    try:
        bench.run(40)
        app._app = bench.app
        app.status()
        app.log()
    finally:
        app._app = None
        bench.close()


@micropython_only
def test_the_tick_allocates_nothing_while_implausible_or_tripped():
    bench = Bench(export_limit_w=0, load_w=500, excursion_trip_s=5)
    try:
        bench.run(200)
        bench.meter.set_float(0x2008, 3500.0)
        bench.run(160, follow_plant=False)  # every request seen once: the slave's answers are cached
        assert bench.app.guard.implausible
        bench.app.service.stop()  # its jobs allocate by design
        checks = bench.app.guard.checks
        allocs.assert_free(bench.period, n=400)
        assert bench.app.guard.checks > checks and bench.app.guard.implausible
    finally:
        bench.close()
    bench = Bench(export_limit_w=0, load_w=500, excursion_trip_s=5)
    try:
        _trip(bench)
        bench.load_w = 500
        bench.run(160)
        bench.run(160, follow_plant=False)
        bench.app.service.stop()
        allocs.assert_free(bench.period, n=400)
        assert bench.app.supervisor.tripped and bench.app.controller.mode == controller.MODE_FAILSAFE
    finally:
        bench.close()
