"""App's constructor, the tickers' (Ticker, ControlLoop) and the loads of saved state (energy counters, supervisor
state, configuration): loaded to run one of them, then dropped (compat.build).

They run at boot (a configuration also at the REPL) only, so their bytecode need not stay in RAM while the gateway
runs (the firmware's .mpy files are imported into RAM). Allocates: the constructor builds every part (wiring.py).
"""

import json
import sys

from compat import ticks_ms
from energy import NAMES

# The App's parts are imported inside app(), the control loop's timer inside control_loop(): loading the saved
# state (cfgstore, energy, lockout_store) needs neither, nor `machine` (cfg on the host, the page's test server).


def app(self, board, settings, make_links=None, clock=ticks_ms, data_dir=None):
    import meters
    from control_loop import ControlLoop
    from service_jobs import Jobs, UtcClock
    from service_loop import ServiceLoop

    self.settings = settings
    self.clock_ms = clock
    self.boot_ms = clock()
    self.utc = UtcClock(clock)
    import cfg  # loaded at boot (main() drops it after) and at the REPL

    self.phases = cfg.grid_phases(settings["grid"])  # before wiring: the schema comes and goes first
    import wiring

    wiring.build(self, board, settings, make_links, data_dir)
    del wiring
    self.board = board
    self.make_links = make_links  # a new inverter list makes its links again (relist.py)
    if self.supervisor is not None:
        self.supervisor.inverters = self.fleet.count  # none: nothing a trip could hold back
    self.led = None
    if board.get("status_led"):
        import status_led

        self.led = status_led.build(board["status_led"], self.guard, self.supervisor)
    for name in ("wiring", "cfg_schema"):  # not needed after boot: free their bytecode
        sys.modules.pop(name, None)
    self.data_dir = data_dir
    self.meter_status = meters.IDLE
    self._done = 0  # Modbus transactions finished (any outcome)
    self._done_ms = self.boot_ms
    self.loop = ControlLoop(self.step, settings["control_period_ms"], settings["watchdog_ms"],
                                         on_stop=self._stopped_by_faults, clock=clock)
    self.safe_loop = None
    self.jobs = jobs = Jobs(self)
    self.service = ServiceLoop((jobs.network, jobs.drain_events, jobs.persist), clock=clock)
    self.changes = None  # changes.Changes, loaded at the first change


def energy(self):
    """Take the saved counters; returns None, or the problem (missing or corrupt: counting starts at 0)."""
    if self.store is None:
        return None
    saved = self.store.load()
    if saved is None:
        return "none saved yet (%s)" % self.store.path if self.store.missing else self.store.problem
    for name in NAMES:
        value = saved.get(name, 0)
        if type(value) is not int or value < 0:
            return "%s: %s is not a counter" % (self.store.path, name)
    for name in NAMES:
        setattr(self, name, saved.get(name, 0))
    return None


def lockout_store(self):
    saved = self.store.load()
    if saved is None:
        return "none saved yet (%s)" % self.store.path if self.store.missing else self.store.problem
    state = saved.get("state")
    if not isinstance(state, list) or not all(type(value) is int for value in state):
        return self.store.path + " is corrupt (no list of integers)"
    try:
        self.supervisor.load_from(state)
    except ValueError as error:
        return "%s: %s" % (self.store.path, error)
    self.saved_version = self.supervisor.version
    return None


def cfgstore(self):
    """The saved dict, or None (missing, unreadable or not a JSON object; see `problem`)."""
    self.problem = None
    self.missing = False
    try:
        with open(self.path) as file:
            text = file.read()
    except OSError:
        self.problem = "no saved configuration at " + self.path
        self.missing = True
        return None
    except ValueError:  # not text (CPython's UnicodeError)
        self.problem = self.path + " is corrupt (not text)"
        return None
    try:
        values = json.loads(text)
    except ValueError:
        self.problem = self.path + " is corrupt (not JSON)"
        return None
    if not isinstance(values, dict):
        self.problem = self.path + " is corrupt (not a JSON object)"
        return None
    return values


def ticker(self, period_ms, timer_id):
    if timer_id == 0:
        raise ValueError("timer 0 is taken by UART RXIDLE interrupts on MicroPython 1.24..1.28")
    self.period_ms = period_ms
    self.timer_id = timer_id
    self._tick_ref = self._tick  # bound once: taking a bound method allocates
    self._irq_ref = self._irq
    self._timer = None
    self.pending = False
    self.running = False
    self.ticks = 0
    self.overruns = 0  # timer periods that found the previous tick still waiting


def control_loop(
    self, step, period_ms=250, watchdog_ms=10000, timer_id=None, max_faults=20, on_stop=None, clock=ticks_ms
):
    from control_loop import TIMER_ID

    ticker(self, period_ms, TIMER_ID if timer_id is None else timer_id)  # Ticker's part
    self._step = step
    self._clock = clock  # ticks_ms, or a simulated clock on the host board
    self.watchdog_ms = watchdog_ms
    self.max_faults = max_faults
    self._on_stop = on_stop
    self._wdt = None
    self.feeds = 0
    self.faults = 0
    self.faults_in_row = 0
    self.stepping = False  # still True at the next tick: the step raised
    self.tick_us = 0  # duration of the last tick
    self.max_tick_us = 0
