"""Steps the Hoymiles link from its own fast timer, apart from the control loop.

The control loop ticks every 100-2000 ms, but while a request is open the
radio needs looking at every few milliseconds: an answer's fragments are on
the air on one of five channels, and the receiver moves on every 4 ms. At a
250 ms tick almost no answer would be caught. `RadioService` therefore runs
`link.step(now_ms)` from a hardware timer every `period_ms` (default 4 ms,
the hop period), queued with `micropython.schedule` like the control loop's
tick. Both run as scheduled callbacks in the one MicroPython task, never at
the same time, so the Fleet they share needs no lock.

This is a second, smaller copy of the control loop's timer pattern on
purpose: the control loop also owns the watchdog, which exists once.

Cost: one scheduled call per period. An idle link step is a few checks; an
open one adds a few SPI transactions (tens of us each at 8 MHz). Nothing
allocates per tick.
"""

import machine
from compat import const, micropython, ticks_ms

PERIOD_MS = const(4)
TIMER_ID = const(2)  # the control loop uses 1; 0 is taken by UART RXIDLE interrupts


class RadioService:
    def __init__(self, link, period_ms=PERIOD_MS, timer_id=TIMER_ID, clock=ticks_ms):
        if timer_id == 0:
            raise ValueError("timer 0 is taken by UART RXIDLE interrupts on MicroPython 1.24..1.28")
        self.link = link
        self.period_ms = period_ms
        self.timer_id = timer_id
        self._clock = clock
        self._tick_ref = self._tick  # bound once: taking a bound method allocates
        self._irq_ref = self._irq
        self._timer = None
        self.pending = False
        self.running = False
        self.ticks = 0
        self.overruns = 0  # periods that found the previous step still waiting

    def start(self):
        self._timer = machine.Timer(self.timer_id)
        self._timer.init(mode=machine.Timer.PERIODIC, period=self.period_ms, callback=self._irq_ref)
        self.running = True

    def stop(self):
        if self._timer is not None:
            self._timer.deinit()
        self.running = False
        self.pending = False

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
        if self.running:
            self.link.step(self._clock())
            self.ticks += 1
