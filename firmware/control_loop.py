"""The control loop: a hardware timer schedules one step every period, a watchdog guards it.

The ESP32 has only soft timers: the timer ISR queues its callback for the
MicroPython task. The callback here only queues the pre-bound tick with
`micropython.schedule` (at most one pending, so a slow tick never piles
ticks up in the 8-deep queue; a tick that finds one pending counts an
overrun). Timer 0 is avoided: UART RXIDLE interrupts take it on
MicroPython 1.24..1.28. The REPL stays free while the loop runs.

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
from compat import const, micropython, ticks_diff, ticks_ms, ticks_us

MAINTENANCE_WDT_MS = const(3600000)
TIMER_ID = const(1)
_COUNT_MASK = const(0x3FFFFFFF)


class ControlLoop:
    def __init__(
        self, step, period_ms=250, watchdog_ms=10000, timer_id=TIMER_ID, max_faults=20, on_stop=None, clock=ticks_ms
    ):
        if timer_id == 0:
            raise ValueError("timer 0 is taken by UART RXIDLE interrupts on MicroPython 1.24..1.28")
        self._step = step
        self._clock = clock  # ticks_ms, or a simulated clock on the host board
        self.period_ms = period_ms
        self.watchdog_ms = watchdog_ms
        self.timer_id = timer_id
        self.max_faults = max_faults
        self._on_stop = on_stop
        self._tick_ref = self._tick  # bound once: taking a bound method allocates
        self._irq_ref = self._irq
        self._timer = None
        self._wdt = None
        self.pending = False
        self.running = False
        self.ticks = 0
        self.feeds = 0
        self.overruns = 0  # timer periods that found the previous tick still waiting
        self.faults = 0
        self.faults_in_row = 0
        self.stepping = False  # still True at the next tick: the step raised
        self.tick_us = 0  # duration of the last tick
        self.max_tick_us = 0

    def start(self):
        # Tells boot.py, after a soft reset, that a watchdog may still be armed.
        machine.RTC().memory(b"wdt")
        self._wdt = machine.WDT(0, timeout=self.watchdog_ms)
        self._timer = machine.Timer(self.timer_id)
        self._timer.init(mode=machine.Timer.PERIODIC, period=self.period_ms, callback=self._irq_ref)
        self.running = True

    def stop(self, stretch_watchdog=True):
        """Stop ticking; with `stretch_watchdog` the armed watchdog gets the long maintenance timeout."""
        if self._timer is not None:
            self._timer.deinit()
        self.running = False
        self.pending = False
        if stretch_watchdog and self._wdt is not None:
            self._wdt = machine.WDT(0, timeout=MAINTENANCE_WDT_MS)
            self._wdt.feed()

    def _irq(self, _timer):
        if self.pending:
            self.overruns += 1
            return
        self.pending = True
        try:
            micropython.schedule(self._tick_ref, None)
        except RuntimeError:  # the scheduler queue is full: skip this period
            self.pending = False
            self.overruns += 1

    def _tick(self, _arg):
        self.pending = False
        if not self.running:
            return
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
        # Counters wrap like ticks: at 4 ticks a second a plain count would pass the
        # ESP32's small-int range after 8.5 years and allocate from then on.
        self.ticks = (self.ticks + 1) & _COUNT_MASK
        if progress:
            self._wdt.feed()
            self.feeds = (self.feeds + 1) & _COUNT_MASK
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
