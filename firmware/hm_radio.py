"""Steps the Hoymiles link from its own fast timer, apart from the control loop.

The control loop ticks every 100-2000 ms, but while a request is open the
radio needs looking at every few milliseconds: an answer's fragments are on
the air on one of five channels, and the receiver moves on every 4 ms. At a
250 ms tick almost no answer would be caught. `RadioService` therefore runs
`link.step(now_ms)` from its own `ticker.Ticker` every `period_ms` (default
4 ms, the hop period). It and the control loop run as scheduled callbacks in
the one MicroPython task, never at the same time, so the Fleet they share
needs no lock.

Cost: one scheduled call per period. An idle link step is a few checks; an
open one adds a few SPI transactions (tens of us each at 8 MHz). Nothing
allocates per tick.
"""

from compat import const, ticks_ms
from ticker import Ticker

PERIOD_MS = const(4)
TIMER_ID = const(2)  # the control loop uses 1; 0 is taken by UART RXIDLE interrupts


class RadioService(Ticker):
    def __init__(self, link, period_ms=PERIOD_MS, timer_id=TIMER_ID, clock=ticks_ms):
        super().__init__(period_ms, timer_id)
        self.link = link
        self._clock = clock

    def run(self):
        self.link.step(self._clock())
