"""The slow jobs outside the control tick, run from their own timer: network, logs, persistence.

    service = ServiceLoop([online.poll, drain_events, persist], period_ms=100)
    service.start()

`ServiceLoop` is a `ticker.Ticker` on timer 3 (the control loop has 1, the
radio service 2; 0 is taken by UART RXIDLE interrupts). Every period it calls
each job with the time: MQTT, HTTP, WiFi and NTP, the event log and the
energy and supervisor files. Its ticks run in the one MicroPython task, like
the control tick, so they never run at the same time and share the Reading,
Fleet and event ring without locks; the REPL stays free between them.

A job that raises is printed and counted (`faults`, `last_error`) and the
other jobs still run: a broker or file-system problem must not stop the
event log or the persistence.

Timing: a job delays a control tick that falls due while it runs (soft
timers: scheduled callbacks never interrupt one another). So every job
bounds its own work and none waits on a peer: MQTT and HTTP use
non-blocking sockets with bounded work per pass (online.py; at most a few
milliseconds per pass on the 32-bit unix port, also with a hung broker or
50 slow HTTP clients, bench/net_faults.py); NTP: a request in one pass, the answer read in
a later one; a flash write: milliseconds. An overrun of the
control loop is counted by it, and the watchdog (10 s) is far above any of
these. Allocation: the jobs allocate; this loop adds nothing.
"""

import sys

from compat import const, ticks_ms
from ticker import Ticker

PERIOD_MS = const(100)
TIMER_ID = const(3)


class ServiceLoop(Ticker):
    def __init__(self, jobs, period_ms=PERIOD_MS, timer_id=TIMER_ID, clock=ticks_ms):
        super().__init__(period_ms, timer_id)
        self.jobs = list(jobs)
        self._clock = clock
        self.faults = 0
        self.last_error = None

    def run(self):
        now_ms = self._clock()
        for job in self.jobs:
            try:
                job(now_ms)
            except Exception as error:  # noqa: BLE001 - one failing job must not stop the others
                self.faults += 1
                self.last_error = error
                _print_exception(error)


def _print_exception(error):
    if hasattr(sys, "print_exception"):
        sys.print_exception(error)
    else:
        import traceback

        traceback.print_exception(type(error), error, error.__traceback__)
