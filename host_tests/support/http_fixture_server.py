"""Serves a fixed plant state with lib/net/http_status.py until killed (or RUN_S pass).

    micropython http_fixture_server.py PORT WRITES TOKEN TIMEOUT_MS LOG [SCENARIO]   (MICROPYPATH=search path)
    python -u   http_fixture_server.py PORT WRITES TOKEN TIMEOUT_MS LOG [SCENARIO]   (PYTHONPATH=search path)

Runs under the MicroPython unix port and CPython alike, so host_tests/test_http_status.py
can talk to the very code the ESP32 runs with CPython's http.client. Prints "ready" once
it listens, and appends to the file LOG whenever a network write changes something
("limit N" for the export limit, "set KEY VALUE" for a setting, "save", "commission N";
a file, because a killed process may lose buffered output).

SCENARIO "regulating" (the default): regulating at -123 W against a 600 W limit, two
inverters. "lockout": fail-safe after a supervisor trip, its lockout holding, 568 W export
against a 0 W limit (the alarm), three inverters, one of them missing its polls.

The settings page edits a real configuration: firmware/cfg.py with its schema, kept in
LOG's folder, through firmware/web_settings.py; commissioning is logged instead of being
posted to a running app.
"""

import sys
import time
from array import array

import cfg
import events
import fleet
import http_status
import plant_status
import reading
import supervisor
import web_settings
from compat import ticks_diff, ticks_ms

RUN_S = 120


def log(line):
    with open(sys.argv[5], "a") as file:
        file.write(line + "\n")


class Controller:
    """The controller attributes PlantStatus reads (a fixed state, not lib/control/controller.py)."""

    def __init__(self, mode, export_limit_w, load_w, limit_w):
        self.mode = mode
        self.export_limit_dw = export_limit_w * 10
        self.load_dw = load_w * 10
        self.limit_dw = limit_w * 10
        self.commands = 42

    def set_export_limit(self, watts):
        if watts == 777:  # lets the tests see a refusal by the applying side
            raise ValueError("777 W is refused by the controller")
        self.export_limit_dw = watts * 10
        log("limit %d" % watts)


class Counters:
    def __init__(self, **values):
        for name in values:
            setattr(self, name, values[name])

    def failsafe_reason(self):  # as lib/control/guard.py has it
        return self.reason


class Settings:
    """firmware/web_settings.py, with saving logged."""

    rows = staticmethod(web_settings.rows)
    set = staticmethod(web_settings.set)

    @staticmethod
    def save():
        web_settings.save()
        log("save")


def commission(minutes):
    """Stands for App.commission: logged, as no app runs here to post it to."""
    if minutes > 1440:
        raise ValueError("commissioning lasts 1..1440 minutes")
    log("commission %d" % minutes)


def grid_reading(now_ms, power_dw, phase_dw):
    grid = reading.Reading()
    grid.valid = True
    grid.seq = 7
    grid.t_ms = now_ms
    grid.power_dw = power_dw
    volts = (2301, 2299, 2310)
    amps = (1800, 3700, 150)
    for phase in range(3):
        grid.phase_power_dw[phase] = phase_dw[phase]
        grid.voltage_dv[phase] = volts[phase]
        grid.current_ma[phase] = amps[phase]
    grid.frequency_chz = 5001
    return grid


def regulating(now_ms):
    grid = grid_reading(now_ms, -1234, (-400, -834, 0))
    table = fleet.Fleet(2)
    table.add(0, 800, phase=0, inputs=2)
    table.add(1, 1500, phase=1, inputs=4)
    table.command(0, 6000, now_ms)
    table.sent(0, now_ms)
    table.acked(0, now_ms)
    table.report_output(0, 5990, now_ms)
    table.command(1, 10000, now_ms)
    guard = Counters(reason=0)
    watch = supervisor.Supervisor(events.EventRing(4), export_limit_w=600)
    watch.excursions = 1
    watch.commission_left_s = 1500  # what the commissioning mode adds to the supervisor
    return grid, table, Controller(2, 600, 1377, 1600), watch, guard, None


def lockout(now_ms):
    grid = grid_reading(now_ms, -5680, (-1900, -1893, -1887))
    table = fleet.Fleet(3)
    for row, (rated_w, phase) in enumerate(((800, 0), (1600, 1), (2000, 2))):
        table.add(row, rated_w, phase=phase, inputs=2 if rated_w < 1000 else 4)
        table.command(row, rated_w * 2, now_ms - 4000)  # the fail-safe limits
    table.sent(0, now_ms - 4000)
    table.acked(0, now_ms - 3900)
    table.report_output(0, 1580, now_ms - 12000)
    table.sent(1, now_ms - 4000)
    table.failed(1, now_ms - 1000)
    table.report_output(1, 3120, now_ms - 754000)
    guard = Counters(reason=3)  # guard.FAILSAFE_REASONS: supervisor trip
    watch = supervisor.Supervisor(events.EventRing(4), export_limit_w=0)
    watch.excursions = 3
    watch.stage2_total = 2
    watch.trips = 1
    watch.trip_reason = 2  # too many stage-2 events
    watch.lockout_left_s = 14390
    link = Counters(slot_of_row=bytearray((0, 1, 0xFF)), poll_failures=array("i", (0, 4)))
    return grid, table, Controller(1, 0, 0, 360), watch, guard, Counters(link=link, second=None)


def plant(scenario, now_ms):
    grid, table, controller, watch, guard, radio = (lockout if scenario == "lockout" else regulating)(now_ms)
    meter = Counters(ok=1000, timeout=3, crc=2, exception=1, invalid=0)
    energy = Counters(import_wh=123456, export_wh=654321, pv_wh=999000)
    return plant_status.PlantStatus(grid, table, controller, meter, energy, None, watch, guard, radio)


def main():
    port, writes, token, timeout_ms = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3], int(sys.argv[4])
    scenario = sys.argv[6] if len(sys.argv) > 6 else "regulating"
    folder = sys.argv[5][: sys.argv[5].rfind("/")]
    with open(folder + "/config.json", "w") as file:
        file.write("{}")
    cfg.load(folder + "/config.json")
    cfg.on_change(lambda key, value, text: log("set %s %r" % (key, value)))
    settings = {"http_writes": writes, "http_token": token}
    status = plant(scenario, ticks_ms())
    server = http_status.StatusServer(
        status.snapshot,
        status.controller.set_export_limit,
        settings.get,
        port=port,
        host="127.0.0.1",
        timeout_ms=timeout_ms,
        limit_range_w=(0, 100000),
        settings=lambda: Settings,
        commission=commission,
    )
    print("ready")
    start = ticks_ms()
    while ticks_diff(ticks_ms(), start) < RUN_S * 1000:
        if not server.poll(ticks_ms()):
            time.sleep(0.002)
    server.close()


if __name__ == "__main__":
    main()
