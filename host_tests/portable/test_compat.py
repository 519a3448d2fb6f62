"""compat makes every runtime wrap ticks at 2**30, like the ESP32."""

import allocs
from compat import TICKS_MAX, const, micropython, ticks_add, ticks_diff, ticks_ms, ticks_us
from testkit import micropython_only

TICKS_PERIOD = TICKS_MAX + 1


def test_ticks_wrap_at_2_pow_30():
    assert TICKS_PERIOD == 1 << 30
    assert ticks_add(TICKS_PERIOD - 5, 10) == 5
    assert ticks_add(3, -5) == TICKS_PERIOD - 2


def test_ticks_diff_across_the_wrap():
    before = TICKS_PERIOD - 100
    after = ticks_add(before, 250)
    assert after == 150
    assert ticks_diff(after, before) == 250
    assert ticks_diff(before, after) == -250


def test_ticks_diff_half_period_is_the_limit():
    assert ticks_diff(1 << 29, 0) == -(1 << 29)
    assert ticks_diff((1 << 29) - 1, 0) == (1 << 29) - 1


def test_ticks_are_within_the_period():
    assert 0 <= ticks_ms() < TICKS_PERIOD
    assert 0 <= ticks_us() < TICKS_PERIOD
    first = ticks_ms()
    assert 0 <= ticks_diff(ticks_ms(), first) < 1000


def test_const_and_decorators():
    assert const(7) == 7

    @micropython.native
    def double(x):
        return 2 * x

    assert double(21) == 42


@micropython_only
def test_ticks_allocate_nothing():
    start = ticks_ms()

    def tick():
        ticks_diff(ticks_add(start, 17), ticks_ms())

    allocs.assert_free(tick)
