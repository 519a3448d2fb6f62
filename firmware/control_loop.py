"""The control loop: a hardware timer schedules one step every period, a watchdog guards it.

The timer and scheduling are `ticker.Ticker`'s; the REPL stays free while
the loop runs.

The tick calls `step(now_ms)`, which must not block longer than one RS485
frame, and returns True when the application made progress. Only then is
the watchdog fed: a loop that hangs, stops being scheduled, or keeps
running without progress resets the device after `watchdog_ms`.

An exception escaping `step` is printed on the console by the scheduler
(with its traceback) and counted at the next tick. After `max_faults` in a
row the loop stops for good: `on_stop` puts the plant into its fail-safe
state, and the watchdog is stretched to `MAINTENANCE_WDT_MS` (the ESP32 can
re-time a running watchdog, never stop it), leaving the REPL reachable and
resetting for one more try an hour later rather than in a tight loop.

Allocation per tick: none (bound methods made once, counters are small ints).
"""

import machine
from compat import build, const, ticks_diff, ticks_us
from ticker import COUNT_MASK, Ticker

MAINTENANCE_WDT_MS = const(3600000)
TIMER_ID = const(1)


class ControlLoop(Ticker):
    def __init__(self, *args, **options):
        build("app_init", "control_loop", self, args, options)  # boot only: app_init.py

    def start(self):
        # Tells boot.py, after a soft reset, that a watchdog may still be armed.
        machine.RTC().memory(b"wdt")
        self._wdt = machine.WDT(0, timeout=self.watchdog_ms)
        super().start()

    def stop(self, stretch_watchdog=True):
        """Stop ticking; with `stretch_watchdog` the armed watchdog gets the long maintenance timeout."""
        super().stop()
        if stretch_watchdog and self._wdt is not None:
            self._wdt = machine.WDT(0, timeout=MAINTENANCE_WDT_MS)
            self._wdt.feed()

    def run(self):
        if self.stepping:
            # The previous step raised: the scheduler printed its traceback on the
            # console and dropped it. Catching it here instead would cost a heap
            # frame per tick (`except ... as` makes the frame too big for the stack).
            self._fault()
            if not self.running:
                return
        self.stepping = True
        start_us = ticks_us()
        progress = self._step(self._clock())
        self.stepping = False
        self.faults_in_row = 0
        if progress:
            self._wdt.feed()
            self.feeds = (self.feeds + 1) & COUNT_MASK
        self.tick_us = ticks_diff(ticks_us(), start_us)
        if self.tick_us > self.max_tick_us:
            self.max_tick_us = self.tick_us

    def _fault(self):
        self.stepping = False
        self.faults += 1
        self.faults_in_row += 1
        if self.faults_in_row >= self.max_faults:
            self.stop()
            if self._on_stop is not None:
                self._on_stop()
