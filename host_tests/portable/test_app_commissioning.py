"""Commissioning as an installer does it, in simulated time: a meter wired the wrong way, no inverters yet,
then commissioning, inverters added without a reset, and a log that says what happened in words.

The plant: 2 kW of load and two inverters that make 1.4 kW at their own (persistent) limit while the
gateway does not know them; the meter's CTs are turned round, so the 600 W import reads as 600 W export.
"""

import app
import cfg
import machine
import register_slave
import report
from test_app_loop import BOARD, PV_W, InstantLink, RadioSite, chip_with_meter, run_for

ROWS = [
    {"serial": "114182000001", "rated_w": 800, "phase": 1, "inputs": 2},
    {"serial": "114182000002", "rated_w": 600, "phase": 1, "inputs": 2},
]
LOAD_W = 2000


class Site:
    def __init__(self):
        self.clock, self.meter = chip_with_meter()
        self.links = []
        cfg.load("/nonexistent/config.json")
        settings = cfg.values()
        for key, value in (("http_enabled", False), ("excursion_trip_s", 10), ("excursion_stage2_s", 5)):
            settings[key] = value  # as saved; short trip times keep the test short
        self.app = app.App(BOARD, settings, make_links=self._links, clock=self.clock.ticks_ms)
        cfg.forget_listeners()
        cfg.on_change(self.app.apply)
        self.app.start()
        self._serve = self.meter.serve

    def _links(self, fleet, settings):
        self.links.append(InstantLink(fleet))
        return self.links[-1:]

    def grid_w(self):
        """The true grid power: the load less what the inverters make (all they can while unmanaged)."""
        fleet = self.app.fleet
        if not fleet.count:
            return LOAD_W - sum(PV_W)
        return LOAD_W - sum(self.links[-1].output_dw(index) for index in range(fleet.count)) // 10

    def run(self, seconds):
        for _ in range(seconds * 4):
            register_slave.set_power(self.meter, -self.grid_w(), 0, 0)  # the CTs turned round
            run_for(self.clock, 250, self._serve)

    def close(self):
        self.app.stop()
        cfg.forget_listeners()
        machine.use_clock(None)


def _uptime_s(line):
    return int(line.split()[0][1:-1])


def test_commissioning_with_a_wrong_sign_and_inverters_added_without_a_reset():
    site = Site()
    gateway = site.app
    try:
        site.run(30)  # no inverters, 600 W of "export" for 30 s: three trip times, yet no trip
        sup = gateway.supervisor
        assert sup.inverters == 0 and not sup.tripped and sup.in_excursion
        assert "no inverters configured: excursions do not trip" in report.mode_text(gateway)

        gateway.commission(30)
        site.run(1)
        assert 29 * 60 < sup.commission_left_s <= 30 * 60
        assert "COMMISSIONING, 29 min" in report.mode_text(gateway)

        cfg.set("inverters", ROWS)  # prints "... live at the next control tick; every inverter starts at ..."
        site.run(1)
        fleet = gateway.fleet
        assert fleet.count == 2 and sup.inverters == 2 and gateway.links == (site.links[-1],)
        assert gateway.guard.controller is gateway.controller and gateway.serials == ["114182000001", "114182000002"]
        site.run(60)  # the wrong sign makes the controller hold the inverters down: export shown all along
        assert sup.in_excursion and not sup.tripped and sup.trips == 0
        assert gateway.led.mode == 4  # commissioning (the meter is fine, the controller regulates)
        assert gateway.controller.commands > 0 and site.links[-1].delivered >= 2

        lines = gateway.jobs.log_lines()
        text = "\n".join(lines)
        assert "configuration: inverters 0 -> 2 (+114182000001, +114182000002)" in text
        assert "commissioning for 30 min: excursions are recorded but do not trip" in text
        assert "trip withheld (no inverters configured): excursion too long; no lockout" in text
        assert "trip withheld (commissioning): excursion too long; no lockout" in text
        assert "trip:" not in text and "lockout ended" not in text
        stamps = [_uptime_s(line) for line in lines]
        assert stamps == sorted(stamps)  # strict time order
    finally:
        site.close()


def test_a_list_the_radio_cannot_serve_leaves_the_old_one_running():
    site = Site()
    gateway = site.app
    try:
        cfg.set("inverters", ROWS[:1])
        site.run(2)
        assert gateway.fleet.count == 1
        fleet = gateway.fleet
        for refuse in (_refuse, _out_of_memory):  # a build that fails changes nothing
            gateway.make_links = refuse
            cfg.set("inverters", ROWS if refuse is _refuse else ROWS[:0])
            site.run(2)
            assert gateway.fleet is fleet and gateway.fleet.count == 1
    finally:
        site.close()


def _refuse(fleet, settings):
    raise ValueError("no such radio")


def _out_of_memory(fleet, settings):
    raise MemoryError("memory allocation failed")  # as importing a builder on a fragmented heap would


HM_ROWS = [
    {"serial": "114172818832", "rated_w": 800, "phase": 1, "inputs": 2},
    {"serial": "114172818833", "rated_w": 600, "phase": 1, "inputs": 2},
]


def test_on_the_radio_a_new_list_keeps_the_radio_and_the_startup_limit_is_written_once():
    from fleet import CMD_ACKED

    site = RadioSite(HM_ROWS[:1], HM_ROWS)
    gateway, run, inverters = site.app, site.run, site.inverters
    try:
        gateway.start()
        run(3000)
        radio, service = gateway.radio.link.radio, gateway.radio
        assert gateway.fleet.cmd_state[0] == CMD_ACKED
        cfg.set("inverters", HM_ROWS)
        run(3000)
        link = gateway.radio.link
        assert gateway.radio is service and link.radio is radio and link.count == 2 and link.fleet is gateway.fleet
        assert sorted(machine.active_timers()) == [1, 2, 3]  # no second radio timer
        fleet, failsafe_dw = gateway.fleet, gateway.controller.failsafe_dw
        for index in range(2):  # both at their fail-safe limits, delivered on the air
            assert fleet.cmd_state[index] == CMD_ACKED and fleet.target_dw[index] == failsafe_dw[index]
        assert inverters[1].limit_commands + len(inverters[1].power_commands) >= 1
        cfg.set("startup_limit_pct", 50)
        run(3000)
        assert [inverter.persistent_writes for inverter in inverters] == [1, 1]
        cfg.set("startup_limit_pct", 60)  # the same day: each inverter skipped
        run(3000)
        assert [inverter.persistent_writes for inverter in inverters] == [1, 1]
    finally:
        site.close()


class _Online:
    """The network part as the service loop drives it, with nothing to send: only its status view matters here."""

    def __init__(self, status):
        self.status = status

    def poll(self, now_ms, up):
        pass

    def publish_event(self, kind, t_ms, a, b):
        pass

    def close(self):
        pass


def test_the_status_page_sees_the_inverters_and_radio_a_new_list_brings():
    from plant_status import PlantStatus

    site = RadioSite([], HM_ROWS)
    gateway = site.app
    try:
        gateway.start()
        status = PlantStatus(gateway.reading, gateway.fleet, gateway.controller, supervisor=gateway.supervisor,
                             guard=gateway.guard, radio=gateway.radio)
        gateway.online = _Online(status)  # what wiring builds when MQTT or HTTP is configured
        site.run(2000)
        assert status.snapshot(site.clock.ticks_ms())["inverters"] == []
        cfg.set("inverters", HM_ROWS)
        site.run(3000)
        rows = status.snapshot(site.clock.ticks_ms())["inverters"]
        assert [row["rated_w"] for row in rows] == [800, 600]
        assert [row["missed"] for row in rows] == [0, 0]  # on the radio's link, not "no Hoymiles link"
    finally:
        site.close()
