"""The fast timer that steps the Hoymiles links apart from the control loop.

wiring.py builds the links from the board file and the configuration (HM
inverters on the nRF24L01+, HMS and HMT on the CMT2300A; both radios can be
fitted and work at the same time) and hands them to a RadioService.

The control loop ticks every 100-2000 ms, but while a request is open a
radio needs looking at every few milliseconds: an nRF24 answer's fragments
are on one of five channels and the receiver moves on every 4 ms, and the
CMT2300A's 64-byte FIFO holds only two fragments. `RadioService` therefore
runs `link.step(now_ms)` of each link from its own `ticker.Ticker` every
`period_ms` (default 4 ms). It and the control loop run as scheduled
callbacks in the one MicroPython task, never at the same time, so the Fleet
they share needs no lock.

Cost: one scheduled call per period. An idle link step is a few checks; an
open one adds a few SPI transactions (tens of us each on the nRF24's
hardware SPI at 8 MHz; the CMT2300A's bit-banged frame transfers take a few
ms). Nothing allocates per tick. Its status line is built by report.py,
loaded only while app.status() prints.
"""

from compat import const, ticks_ms
from ticker import Ticker

PERIOD_MS = const(4)
TIMER_ID = const(2)  # the control loop uses 1; 0 is taken by UART RXIDLE interrupts


class RadioService(Ticker):
    def __init__(self, link, period_ms=PERIOD_MS, timer_id=TIMER_ID, clock=ticks_ms, second=None):
        super().__init__(period_ms, timer_id)
        self.link = link
        self.second = second  # the other radio's link, when a board carries both
        self._clock = clock

    def run(self):
        now_ms = self._clock()
        if self.link is not None:
            self.link.step(now_ms)
        if self.second is not None:
            self.second.step(now_ms)
