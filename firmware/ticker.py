"""A periodic hardware timer that runs a tick as a scheduled callback.

The ESP32 has only soft timers: the timer ISR queues its callback for the
MicroPython task. `Ticker`'s ISR callback only queues the pre-bound `_tick`
with `micropython.schedule`, at most one pending: a slow tick never piles up
ticks in the 8-deep scheduler queue, and a period that finds one still
pending counts an overrun. Subclasses do their work in `run()`.

Timer 0 is refused: UART RXIDLE interrupts take it on MicroPython 1.24..1.28.
All ticks of all Tickers run in the one MicroPython task, one after the
other, so the objects they share need no lock.

Allocation per tick: none. The bound methods are made once, and the counters
wrap below 2**30 like ticks do (a plain count would leave the ESP32's small
ints after 8.5 years at 4 Hz, or 50 days at 250 Hz, and allocate from then on).
"""

import machine
from compat import build, const, micropython

COUNT_MASK = const(0x3FFFFFFF)


class Ticker:
    def __init__(self, period_ms, timer_id):
        build("app_init", "ticker", self, (period_ms, timer_id), {})  # boot only: app_init.py

    def start(self):
        self._timer = machine.Timer(self.timer_id)
        self._timer.init(mode=machine.Timer.PERIODIC, period=self.period_ms, callback=self._irq_ref)
        self.running = True

    def stop(self):
        if self._timer is not None:
            self._timer.deinit()
        self.running = False
        self.pending = False

    def run(self):
        """One tick's work; must not block for more than a few milliseconds."""
        raise NotImplementedError

    def _irq(self, _timer):
        if self.pending:
            self.overruns = (self.overruns + 1) & COUNT_MASK
            return
        self.pending = True
        try:
            micropython.schedule(self._tick_ref, None)
        except RuntimeError:  # the scheduler queue is full: skip this period
            self.pending = False
            self.overruns = (self.overruns + 1) & COUNT_MASK

    def _tick(self, _arg):
        self.pending = False
        if self.running:
            self.ticks = (self.ticks + 1) & COUNT_MASK
            self.run()
