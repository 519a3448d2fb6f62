"""The whole firmware loop on the fake chip: DTSU666 on the RS485 line, controller, a link, the watchdog.

Simulated time (machine.VirtualClock) starts 10 s before the 2**30 tick
wrap; the meter is a register slave on the far end of the UART; the
inverters follow their limits at once and report their output.
"""

import allocs
import app
import cfg
import control_loop
import controller
import machine
import nrf24_chip
import register_slave
from compat import ticks_add, ticks_diff
from fleet import CMD_ACKED
from testkit import micropython_only

BOARD = {"name": "test board", "meter_bus": {"uart": 2, "tx": 17, "rx": 16, "de": 4},
         "status_led": {"pin": 2, "kind": "gpio"}}  # the LED is stepped in every tick, heap_lock included
PV_W = (800, 600)  # what the sun offers each inverter


class InstantLink:
    """Delivers every queued limit at once, acknowledges it, and reports min(limit, PV) as output."""

    def __init__(self, fleet):
        self.fleet = fleet
        self.delivered = 0

    def step(self, now_ms):
        index = self.fleet.next_queued()
        while index >= 0:
            self._deliver(index, now_ms)
            index = self.fleet.next_queued(index + 1)
        for index in range(self.fleet.count):
            self.fleet.report_output(index, self.output_dw(index), now_ms)

    def _deliver(self, index, now_ms):
        self.fleet.sent(index, now_ms)
        self.fleet.acked(index, now_ms)
        self.delivered += 1

    def output_dw(self, index):
        return min(self.fleet.target_dw[index], PV_W[index] * 10)


def chip_with_meter(start_ms=None):
    """A fresh fake chip on virtual time (from `start_ms`, else near the tick wrap) with a DTSU666 on the
    RS485 line (UART 2, DE on pin 4): (clock, meter); the meter holds its line."""
    machine.reset_hardware()
    clock = machine.VirtualClock() if start_ms is None else machine.VirtualClock(start_ms)
    machine.use_clock(clock)
    line = machine.Line()
    machine.UART.wire(2, line, de=4)
    return clock, register_slave.dtsu666(line)


class Bench:
    """The gateway on the fake chip with a meter whose grid power follows the plant."""

    def __init__(self, export_limit_w=0, load_w=300, data_dir=None, **overrides):
        self.clock, self.meter = chip_with_meter()
        settings = cfg.defaults()
        settings["export_limit_w"] = export_limit_w
        settings["inverters"] = [
            {"serial": "114182000001", "rated_w": 800, "phase": 1, "inputs": 2},
            {"serial": "114182000002", "rated_w": 600, "phase": 1, "inputs": 2},
        ]
        settings["http_enabled"] = False  # no listener on the host's port 80
        settings.update(overrides)
        self.load_w = load_w
        self.app = app.App(BOARD, settings, clock=self.clock.ticks_ms, data_dir=data_dir)
        self.link = InstantLink(self.app.fleet)
        self.app.links = (self.link,)
        self._serve = self.meter.serve  # bound once: period() runs under heap_lock
        self.app.start()

    def grid_w(self):
        out_dw = self.link.output_dw(0) + self.link.output_dw(1)
        return self.load_w - out_dw // 10

    def period(self):
        """One control period: run every timer due in it (control tick, service loop), let the meter answer."""
        run_for(self.clock, self.app.loop.period_ms, self._serve)

    def run(self, periods, follow_plant=True):
        for _ in range(periods):
            if follow_plant:
                register_slave.set_power(self.meter, self.grid_w(), 0, 0)
            self.period()

    def close(self):
        self.app.stop()
        machine.use_clock(None)


def _let_scheduled_run():
    for _ in range(3):  # MicroPython runs a scheduled function at a backwards jump
        pass


def run_for(clock, duration_ms, after=None):
    """Advance simulated time by duration_ms, running each timer as it falls due; after() follows each."""
    end = ticks_add(clock.ticks_ms(), duration_ms)
    while True:
        due = machine.next_due_ms()
        if due is None or ticks_diff(due, end) > 0:
            break
        clock.advance_to_ms(due)
        machine.run_timers(due)
        _let_scheduled_run()
        if after is not None:
            after()
    clock.advance_to_ms(end)


def test_failsafe_limits_are_commanded_before_the_first_reading():
    bench = Bench(export_limit_w=0)
    try:
        fleet, ctl = bench.app.fleet, bench.app.controller
        assert not bench.app.reading.valid
        assert ctl.mode == controller.MODE_STARTING
        for index in range(fleet.count):
            assert fleet.target_dw[index] == ctl.failsafe_dw[index] < fleet.rated_dw[index]
        assert fleet.next_queued() == 0
    finally:
        bench.close()


def test_regulates_then_fails_safe_within_failsafe_ms_and_recovers():
    bench = Bench(export_limit_w=0, load_w=500)
    try:
        ctl, fleet, period_ms = bench.app.controller, bench.app.fleet, bench.app.loop.period_ms
        bench.run(120)  # 30 s
        assert ctl.mode == controller.MODE_REGULATING and bench.app.reading.valid
        assert bench.app.meter.started
        regulated = fleet.target_dw[0] + fleet.target_dw[1]
        assert regulated > ctl.failsafe_dw[0] + ctl.failsafe_dw[1]  # it raised above fail-safe
        assert -50 <= bench.grid_w() <= 100  # about zero export with 500 W of load

        bench.meter.online = False
        silent_at = bench.clock.ticks_ms()
        waited = 0
        while ctl.mode != controller.MODE_FAILSAFE:
            bench.run(1)
            waited += period_ms
            assert waited <= 60000, "never failed safe"
        assert waited <= cfg.defaults()["failsafe_ms"] + period_ms, waited
        assert fleet.target_dw[0] == ctl.failsafe_dw[0] and fleet.target_dw[1] == ctl.failsafe_dw[1]
        assert silent_at != bench.clock.ticks_ms()

        bench.run(40)  # silence goes on: the limits stay safe, the loop keeps being fed
        assert ctl.mode == controller.MODE_FAILSAFE
        assert bench.app.meter.timeout > 0  # (the fail-safe may start before the meter's timeout)
        feeds = machine.watchdog().feeds
        bench.run(8)
        assert machine.watchdog().feeds > feeds

        bench.meter.online = True
        bench.run(80)
        assert ctl.mode == controller.MODE_REGULATING
        assert fleet.target_dw[0] + fleet.target_dw[1] > ctl.failsafe_dw[0] + ctl.failsafe_dw[1]
    finally:
        bench.close()


def test_a_new_export_limit_from_the_repl_acts_at_the_next_tick():
    bench = Bench(export_limit_w=0, load_w=100)
    try:
        cfg.load("/nonexistent/config.json")
        cfg.forget_listeners()
        cfg.on_change(bench.app.apply)
        bench.run(120)
        before = bench.app.controller.commands
        cfg.set("export_limit_w", 600)
        assert bench.app.controller.export_limit_dw == 6000
        bench.run(1)
        assert bench.app.controller.commands > before  # raised at once: PV was held back
    finally:
        cfg.forget_listeners()
        bench.close()


def test_the_watchdog_starves_when_the_bus_stops_finishing_transactions():
    bench = Bench()
    try:
        bench.run(20)
        master = bench.app.master
        master._busy = True  # a state machine that never finishes (a bug we guard against)
        master.timeout_ms = 1 << 40
        master.retries = 1 << 40
        feeds = machine.watchdog().feeds
        bench.run(200)  # 50 s
        wdt = machine.watchdog()
        assert wdt.feeds - feeds <= 20  # fed for at most the stall window (5 s), then starved
        assert wdt.expired(bench.clock.ticks_ms())
    finally:
        bench.close()


@micropython_only
def test_thousands_of_loop_periods_under_heap_lock():
    bench = Bench(export_limit_w=0, load_w=500)
    try:
        bench.run(200)  # start-up done and every request seen once: the slave's answers are cached
        bench.run(160, follow_plant=False)  # every slow register block read at least once
        bench.app.service.stop()  # the service loop's jobs allocate (outside the tick, by design)
        ticks = bench.app.loop.ticks
        allocs.assert_free(bench.period, n=2000)
        assert bench.app.loop.ticks == ticks + 4001 and bench.app.loop.faults == 0
        assert bench.app.guard.checks > 0 and not bench.app.guard.implausible
        assert bench.app.reading.valid
    finally:
        bench.close()


RADIO = {"spi": 1, "sck": 18, "mosi": 23, "miso": 19, "csn": 5, "ce": 22, "irq": 21}


class RadioSite:
    """The gateway on the nRF24 host board with the inverter list `rows`, the HM inverters `on_air` on the air
    and a DTSU666 on the RS485 line; run(ms) runs timers, radio and meter in virtual time."""

    def __init__(self, rows, on_air):
        self.clock, self.meter = chip_with_meter(start_ms=1000)
        self.air_clock = nrf24_chip.Clock(1000)
        air = nrf24_chip.Air(self.air_clock, seed=5)
        self.inverters = [nrf24_chip.HmInverter(row["serial"], rated_w=row["rated_w"]) for row in on_air]
        for inverter in self.inverters:
            air.add(inverter)
        nrf24_chip.Chip(air).wire(machine, RADIO)
        cfg.load("/nonexistent/config.json")
        settings = cfg.values()  # the live values, as app.main() passes them
        settings["http_enabled"] = False
        settings["inverters"] = rows
        self.app = app.App(dict(BOARD, radio=RADIO), settings, clock=self.clock.ticks_ms)
        cfg.forget_listeners()
        cfg.on_change(self.app.apply)

    def run(self, ms, done=None):
        """Run the timers one at a time for `ms`; with `done`, stop as soon as it holds right after one
        (before the meter answers) and say whether it did."""
        end = ticks_add(self.clock.ticks_ms(), ms)
        while ticks_diff(machine.next_due_ms(), end) <= 0:
            due = machine.next_due_ms()
            self.clock.advance_to_ms(due)
            self.air_clock.now_ms = due
            machine.run_timers(due)
            _let_scheduled_run()
            if done is not None and done():
                return True
            self.meter.serve()
        return False

    def close(self):
        self.app.stop()
        cfg.forget_listeners()
        machine.use_clock(None)


def test_the_radio_link_delivers_the_limits_from_its_own_timer():
    rows = [{"serial": "114172818832", "rated_w": 800, "phase": 1, "inputs": 2}]
    site = RadioSite(rows, rows)
    gateway, inverter = site.app, site.inverters[0]
    try:
        gateway.start()
        assert sorted(machine.active_timers()) == [1, 2, 3]  # control loop, radio service, service loop
        site.run(3000)
        fleet = gateway.fleet
        assert fleet.cmd_state[0] == CMD_ACKED
        assert fleet.target_dw[0] == gateway.controller.failsafe_dw[0]
        if fleet.target_dw[0] == 0:  # the link lets the controller switch an HM inverter off
            assert fleet.can_switch_off[0] and not inverter.on
        else:
            assert inverter.on and inverter.limit_dw == fleet.target_dw[0]
        assert gateway.radio.ticks > 500
    finally:
        site.close()


class Broken:
    """A meter driver whose every step raises, like a bug that slipped through."""

    name = "broken"
    address = 1
    ok = timeout = crc = exception = invalid = 0

    def step(self, now_ms):
        raise ValueError("bug in the meter driver")


def test_a_step_that_keeps_failing_leaves_fail_safe_limits_delivered_and_the_repl_free():
    bench = Bench(export_limit_w=0, load_w=500)
    try:
        bench.run(120)
        fleet, ctl = bench.app.fleet, bench.app.controller
        assert fleet.target_dw[0] + fleet.target_dw[1] > ctl.failsafe_dw[0] + ctl.failsafe_dw[1]
        bench.app.meter = Broken()
        bench.run(bench.app.loop.max_faults + 1)
        assert not bench.app.loop.running and bench.app.safe_loop.running
        assert machine.watchdog().timeout_ms == control_loop.MAINTENANCE_WDT_MS
        bench.run(4)  # the safe loop runs only the links: the fail-safe limits go out
        assert bench.app.safe_loop.ticks == 4
        for index in range(fleet.count):
            assert fleet.target_dw[index] == ctl.failsafe_dw[index]
            assert fleet.cmd_state[index] == CMD_ACKED
    finally:
        bench.close()


def test_main_boots_from_the_board_and_config_files_and_status_prints():
    import json

    from test_cfg_repl import _fresh_dir

    directory = _fresh_dir()
    with open(directory + "/board.json", "w") as file:
        file.write(json.dumps(BOARD))
    with open(directory + "/config.json", "w") as file:
        file.write(json.dumps({"export_limit_w": 600, "inverters": [{"serial": "114182000001", "rated_w": 800}]}))
    machine.reset_hardware()
    clock = machine.VirtualClock()
    machine.use_clock(clock)
    machine.UART.wire(2, machine.Line(), de=4)
    try:
        app.status()  # before main(): says so instead of failing
        gateway = app.main(directory + "/board.json", directory + "/config.json", clock=clock.ticks_ms)
        assert gateway.loop.running and gateway.controller.export_limit_dw == 6000
        assert gateway.fleet.count == 1 and gateway.serials == ["114182000001"]
        cfg.set("export_limit_w", 300)  # main() subscribed the running app
        assert gateway.controller.export_limit_dw == 3000
        app.status()
        app.stop()
        assert not gateway.loop.running
        app.status()
    finally:
        cfg.forget_listeners()
        app.stop()
        machine.use_clock(None)
