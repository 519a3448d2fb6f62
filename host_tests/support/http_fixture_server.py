"""Serves a fixed plant state with lib/net/http_status.py until killed (or RUN_S pass).

    micropython http_fixture_server.py PORT WRITES TOKEN TIMEOUT_MS LOG   (MICROPYPATH=lib:host_tests/support)
    python -u   http_fixture_server.py PORT WRITES TOKEN TIMEOUT_MS LOG   (PYTHONPATH=lib:host_tests/support)

Runs under the MicroPython unix port and CPython alike, so host_tests/test_http_status.py
can talk to the very code the ESP32 runs with CPython's http.client. Prints "ready" once
it listens, and appends "limit N" to the file LOG whenever a network write changes the
export limit (a file, because a killed process may lose buffered output).
"""

import sys
import time

import fleet
import http_status
import plant_status
import reading
from compat import ticks_diff, ticks_ms

RUN_S = 120


class Controller:
    """The controller attributes PlantStatus reads (a fixed state, not lib/control/controller.py)."""

    def __init__(self):
        self.mode = 2
        self.export_limit_dw = 6000
        self.pv_dw = 15000
        self.load_dw = 13766
        self.limit_dw = 16000
        self.commands = 42

    def set_export_limit(self, watts):
        if watts == 777:  # lets the tests see a refusal by the applying side
            raise ValueError("777 W is refused by the controller")
        self.export_limit_dw = watts * 10
        with open(sys.argv[5], "a") as log:
            log.write("limit %d\n" % watts)


class Counters:
    def __init__(self, **values):
        for name in values:
            setattr(self, name, values[name])


def plant(now_ms):
    grid = reading.Reading()
    grid.valid = True
    grid.seq = 7
    grid.t_ms = now_ms
    grid.power_dw = -1234
    for phase, (power, volts, amps) in enumerate(((-400, 2301, 1800), (-834, 2299, 3700), (0, 2310, 150))):
        grid.phase_power_dw[phase] = power
        grid.voltage_dv[phase] = volts
        grid.current_ma[phase] = amps
    grid.frequency_chz = 5001
    table = fleet.Fleet(2)
    table.add(0, 800, phase=0, inputs=2)
    table.add(1, 1500, phase=1, inputs=4)
    table.command(0, 6000, now_ms)
    table.sent(0, now_ms)
    table.acked(0, now_ms)
    table.report_output(0, 5990, now_ms)
    table.command(1, 10000, now_ms)
    meter = Counters(ok=1000, timeout=3, crc=2, exception=1, invalid=0)
    energy = Counters(import_wh=123456, export_wh=654321, pv_wh=999000)
    return plant_status.PlantStatus(grid, table, Controller(), meter, energy)


def main():
    port, writes, token, timeout_ms = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3], int(sys.argv[4])
    settings = {"http_writes": writes, "http_token": token}
    status = plant(ticks_ms())
    server = http_status.StatusServer(
        status.snapshot,
        status.controller.set_export_limit,
        settings.get,
        port=port,
        host="127.0.0.1",
        timeout_ms=timeout_ms,
        limit_range_w=(0, 100000),
    )
    print("ready")
    start = ticks_ms()
    while ticks_diff(ticks_ms(), start) < RUN_S * 1000:
        if not server.poll(ticks_ms()):
            time.sleep(0.002)
    server.close()


if __name__ == "__main__":
    main()
