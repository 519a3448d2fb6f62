"""The radio link's UTC clock: right to the second, refreshed once a minute, and allocation-free per call."""

import time

import allocs
from service_jobs import UtcClock
from testkit import micropython_only

_S_1970_TO_2000 = 946684800


class Ticks:
    def __init__(self):
        self.now_ms = 5000

    def __call__(self):
        return self.now_ms


def _rtc_s2000():
    return int(time.time()) - (_S_1970_TO_2000 if time.gmtime(0)[0] == 1970 else 0)


def test_counts_seconds_from_the_rtc_reading_by_ticks():
    ticks = Ticks()
    clock = UtcClock(ticks)
    assert clock.s2000() == -1  # not read yet: unknown
    clock.refresh(ticks.now_ms)
    start = clock.s2000()
    assert abs(start - _rtc_s2000()) <= 1
    ticks.now_ms += 59999
    assert clock.s2000() == start + 59
    clock.poll(ticks.now_ms)  # not due yet: still the first reading
    assert clock.s2000() == start + 59
    ticks.now_ms += 1
    clock.poll(ticks.now_ms)  # a minute on: read again
    assert abs(clock.s2000() - _rtc_s2000()) <= 1


@micropython_only
def test_a_call_allocates_nothing():
    ticks = Ticks()
    clock = UtcClock(ticks)
    clock.refresh(ticks.now_ms)
    s2000 = clock.s2000  # bound once, as the radio link holds it
    allocs.assert_free(s2000, 1000)
