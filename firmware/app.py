"""The gateway application: its lifecycle, the control tick, and the REPL surface.

    import app; app.main()     # main.py does this at boot; it returns, the loops run from timers
    app.status()               # live power, limits, meter, supervisor, network, energy, error counters
    app.log()                  # the event log (fail-safe, meter lost, excursions, trips, resets, ...)
    app.reset_supervisor()     # installer reset: ends a lockout after a trip (logged)
    app.commission(30)         # commissioning: 30 minutes in which excursions are recorded but never trip
    app.stop()                 # stop the loops (the plant keeps its last limits); the watchdog gets an hour

main() reads the board file and the saved configuration; wiring.py builds
every part once (and is then dropped from RAM) and says which link runs
where; the fail-safe limits go out before any meter reading exists; then the
loops start. Each control tick (`step`) polls the meter once (non-blocking),
lets the guard (lib/control/guard.py) check plausibility, step the export
supervisor and hold the controller when either says so, runs the controller,
sets the status LED (status_led.py, when the board file names one) and steps
the tick's links. The service loop (service_loop.py) runs the slow
jobs (service_jobs.py): network, event log, energy and supervisor files.

Changes from outside the tick (cfg.set, cfg.reset, reset_supervisor,
commission, the HTTP write) are posted to run between two ticks, never
inside one (changes.py); a new inverter list too (relist.py).

The watchdog is fed while the bus finishes transactions (answered or not):
a silent meter still counts, a Modbus state machine that stopped does not.
After repeated faults the Fleet gets the fail-safe limits and a safe loop
keeps only the tick's links running (docs/FIRMWARE.md).

Timing and allocation: `step` allocates nothing; its cost is one Modbus poll
plus one controller step, well under one RS485 frame time.
"""

import gc
import json
import sys

import control_loop
import events
import meters
from compat import build, const, ticks_diff, ticks_ms

BOARD_PATH = "/board.json"
_STALL_MS = const(5000)  # no Modbus transaction finished for this long: no progress

_app = None


def load_board(path=BOARD_PATH):
    with open(path) as file:
        return json.load(file)


class App:
    """Every part of the running gateway (built by wiring.py), the tick, the service jobs, the REPL's changes.

    data_dir: where the event log, the supervisor state and the energy counters live ("" on the device: the
    root of its file system); None keeps them in RAM only (tests)."""

    def __init__(self, *args, **options):
        build("app_init", "app", self, args, options)  # boot only: app_init.py

    # The tick is split into small methods: MicroPython keeps a frame on the C
    # stack only while its locals and value stack fit 11 words, else every call
    # allocates it on the heap.
    def step(self, now_ms):
        """One tick: returns True when the bus made progress (the watchdog is fed only then)."""
        self._poll_meter(now_ms)
        guard = self.guard
        guard.before_control(now_ms)
        self.controller.step(now_ms, self.reading)
        guard.after_control(now_ms)
        if self.led is not None:
            self.led.step(now_ms)
        self._run_links(now_ms)
        return self._progress(now_ms)

    def _poll_meter(self, now_ms):
        status = self.guard.meter_step(self.meter, now_ms)
        if status != meters.IDLE and status != meters.BUSY and status != meters.WAIT_BUS:
            self.meter_status = status
        if self.pv_meter is not None:
            self.pv_meter.step(now_ms)

    def _run_links(self, now_ms):
        links = self.links
        for index in range(len(links)):
            links[index].step(now_ms)

    def _progress(self, now_ms):
        master = self.master
        done = master.ok + master.timeout + master.crc + master.exception
        if done != self._done:
            self._done = done
            self._done_ms = now_ms
            return True
        return ticks_diff(now_ms, self._done_ms) < _STALL_MS

    # --- lifecycle and changes from outside the tick ---------------------------------------

    def start(self):
        # Fail-safe limits go out before the first meter reading exists.
        now_ms = self.clock_ms()
        self.utc.refresh(now_ms)
        self.ring.push(events.BOOT, now_ms)
        self.guard.before_control(now_ms)  # a lockout restored from flash holds from the first step
        self.controller.step(now_ms, self.reading)
        self.loop.start()
        if self.radio is not None:
            self.radio.start()
        self.service.start()

    def set_export_limit(self, watts):
        """A new export limit from the network: the same path as cfg.set (checked, logged, next tick)."""
        import cfg  # stays loaded once used: it keeps the keys not saved yet

        cfg.set("export_limit_w", watts)

    def apply(self, key, value, text=None):
        """cfg listener: posts the change to run between two ticks (changes.py); returns when it acts."""
        return self._changes().apply(key, value, text)

    def reset_supervisor(self):
        """Installer reset: end a lockout and forget recent stage-2 events (logged, saved)."""
        self._changes().reset_supervisor()

    def commission(self, minutes=30):
        """Commissioning for `minutes` (0 ends it): excursions are recorded but never trip (logged, saved).
        The REPL's app.commission() and the status page's button call this."""
        self._changes().commission(minutes)

    def _changes(self):
        if self.changes is None:
            from changes import Changes

            self.changes = Changes(self)
        return self.changes

    def _stopped_by_faults(self):
        """The loop gave up: command the fail-safe limits and keep only the tick's links running."""
        now_ms = self.clock_ms()
        for index in range(self.fleet.count):
            self.fleet.command(index, self.controller.failsafe_dw[index], now_ms)
        print("app: control loop stopped after repeated faults; fail-safe limits commanded")
        self.safe_loop = control_loop.ControlLoop(
            self._safe_step, self.loop.period_ms, control_loop.MAINTENANCE_WDT_MS, timer_id=self.loop.timer_id,
            clock=self.clock_ms,
        )
        self.safe_loop.start()

    def _safe_step(self, now_ms):
        self._run_links(now_ms)
        return True

    def stop(self):
        """Stop every loop; a clean stop saves the energy counters and the supervisor state."""
        for loop in (self.loop, self.safe_loop, self.radio, self.service):
            if loop is not None:
                loop.stop()
        self.jobs.close(self.clock_ms())

    def log(self):
        """Print the event log, oldest first."""
        for line in self.jobs.log_lines() or ["(no events logged)"]:
            print(line)

    def status(self):
        """Print the live state (report.py and what it imports: loaded only while it prints, to spare the RAM)."""
        loaded = list(sys.modules)
        import report

        try:
            report.status(self, self.clock_ms())
        finally:
            for name in list(sys.modules):
                if name not in loaded:
                    sys.modules.pop(name)


def main(board_path=BOARD_PATH, config_path=None, make_links=None, clock=ticks_ms):
    """Start the gateway and return; the loops run from timers and the REPL stays free.

    `make_links(fleet, settings)`: links the tick steps (the host board's simulated inverters); `clock`:
    ticks_ms, or simulated time. The event log, energy counters and supervisor state live next to the
    configuration file (/events.log, /energy.json, /supervisor.json).

    cfg is dropped after boot unless it was loaded before (2.6 kB of bytecode): the app keeps the settings
    dict, and cfg imported again at the REPL or on a change adopts it, this path and app.apply as listener."""
    global _app
    if _app is not None:
        _app.stop()
    loaded = "cfg" in sys.modules
    import cfg

    config_path = config_path or cfg.PATH
    warnings = cfg.load(config_path)
    board = load_board(board_path)
    gc.collect()  # the schema cfg.load used is garbage now: the parts built next pack into its space
    data_dir = config_path[: config_path.rfind("/")] if "/" in config_path else "."
    _app = App(board, cfg.values(), make_links, clock, data_dir)
    _app.config_path = config_path
    _app.warnings = warnings
    cfg.forget_listeners()
    cfg.on_change(_app.apply)
    if not loaded:
        sys.modules.pop("cfg")
    _app.start()
    print("app: running on %s; status() shows the state, import cfg to configure" % board.get("name", "?"))
    return _app


def _running():
    if _app is None:
        print("app: not running (main.py did not start it, or it failed; see the boot messages)")
    return _app is not None


def status():
    if _running():
        _app.status()


def log():
    """Print the event log (fail-safe, meter lost/back, implausible data, excursions, trips, resets, changes)."""
    if _running():
        _app.log()


def reset_supervisor():
    """Installer reset after a trip: ends the lockout, forgets recent stage-2 events; logged as RESET."""
    if _running():
        _app.reset_supervisor()


def commission(minutes=30):
    """Commissioning: for `minutes` (1..240; 0 ends it) excursions are recorded and logged but never trip, so
    a meter still wired the wrong way cannot lock the plant out. It ends by itself; app.status() shows the time
    left. It survives resets (meter settings act after cfg.save() and a reset). It does not end a lockout:
    app.reset_supervisor() does."""
    if _running():
        _app.commission(minutes)


def stop():
    if _app is not None:
        _app.stop()
        print("app: stopped; the plant keeps its last limits; the watchdog resets the device in an hour")
