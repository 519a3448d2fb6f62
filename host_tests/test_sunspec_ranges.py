"""SunSpec arithmetic stays exact and within the ESP32's small ints, over every documented input.

lib/sunspec/sunspec.py and lib/sunspec/sunspec_link.py are loaded with each arithmetic result checked against
+-2**30 and against being a float (ranges.load), then driven by hypothesis: every int16/uint16
register value with every scale factor we accept, limits up to 2**30, ratings up to 10 MW, and
the whole link (discovery, limit writes, power reads) on maps with random ratings and scale
factors, with the tick counter about to wrap.
"""

from fractions import Fraction

import modbus_write
import ranges
from hypothesis import given, settings
from hypothesis import strategies as st
from stream_slave import StreamSlave

sunspec = ranges.load("sunspec")
link_module = ranges.load("sunspec_link", "sunspec", "fleet")
checked_fleet = ranges.load("fleet")


def rounded(value):
    """Round half away from zero, exactly."""
    return int(value + Fraction(1, 2)) if value >= 0 else -int(-value + Fraction(1, 2))


@settings(max_examples=500, deadline=None)
@given(st.integers(-32768, 65535), st.integers(-6, 3))
def test_to_dw_is_exact(value, sf):
    assert sunspec.to_dw(value, sf) == rounded(Fraction(value) * Fraction(10) ** (sf + 1))


@settings(max_examples=500, deadline=None)
@given(st.integers(-(2**30), 2**30 - 1), st.integers(1, sunspec.MAX_WMAX_DW), st.integers(-2, 0))
def test_limit_value_is_exact(limit_dw, wmax_dw, sf):
    top = 100 * 10**-sf
    expected = 0 if limit_dw <= 0 else top if limit_dw >= wmax_dw else rounded(Fraction(limit_dw * top, wmax_dw))
    assert sunspec.limit_value(limit_dw, wmax_dw, sf) == expected


def sunspec_map(wmax, rating_sf, pct_sf, w_raw, w_sf, controls, base):
    regs = {}
    cursor = base

    def put(values):
        nonlocal cursor
        for value in values:
            regs[cursor] = value & 0xFFFF
            cursor += 1

    put([0x5375, 0x6E53, 1, 66] + [0] * 66)
    inverter = cursor
    put([103, 50] + [0] * 50)
    regs[inverter + 14], regs[inverter + 15] = w_raw & 0xFFFF, w_sf & 0xFFFF
    put([121, 30, wmax] + [0] * 19 + [rating_sf] + [0] * 9)
    controls_reg = cursor
    if controls == 123:
        put([123, 24] + [0] * 21 + [pct_sf] + [0] * 2)
    else:
        put([704, 65] + [0] * 52 + [pct_sf] + [0] * 12)
    put([0xFFFF, 0])
    return regs, controls_reg


@settings(max_examples=100, deadline=None)
@given(
    wmax=st.integers(1, 65534),
    rating_sf=st.integers(-6, 3),
    pct_sf=st.integers(-2, 0),
    w_raw=st.integers(-32767, 32767),
    w_sf=st.integers(-6, 3),
    controls=st.sampled_from((123, 704)),
    base=st.sampled_from((40000, 50000, 0)),
    targets=st.lists(st.integers(0, 10_000_000), min_size=1, max_size=4),
    start=st.integers(2**30 - 3000, 2**30 - 1),
    revert_s=st.integers(0, 65535),
    failsafe_pct10=st.integers(0, 1000),
)
def test_the_link_over_any_map(
    wmax, rating_sf, pct_sf, w_raw, w_sf, controls, base, targets, start, revert_s, failsafe_pct10
):
    regs, controls_reg = sunspec_map(wmax, rating_sf, pct_sf, w_raw, w_sf, controls, base)
    slave = StreamSlave(2, regs)
    master = modbus_write.WriteMaster(slave, timeout_ms=50, retries=0, silence_ms=2, late_ms=0)  # ranges, not timing
    table = checked_fleet.Fleet(1)
    table.add(0, 1000)
    link = link_module.SunSpecLink(master, table, ((0, 2),), revert_s=revert_s, failsafe_pct10=failsafe_pct10)
    now = start
    wmax_dw = rounded(Fraction(wmax) * Fraction(10) ** (rating_sf + 1))
    info = link.maps[0]
    for _ in range(200):  # discovery: 5 reads, plus the first power read
        link.step(now & 0x3FFFFFFF)
        now += 1
    if not 0 < wmax_dw <= sunspec.MAX_WMAX_DW:
        assert not info.ready and info.error == sunspec.NO_RATING
        return
    assert info.ready and info.wmax_dw == wmax_dw
    for target in targets:
        table.command(0, target, now & 0x3FFFFFFF)
        for _ in range(40):
            link.step(now & 0x3FFFFFFF)
            now += 1
        assert table.cmd_state[0] == 3  # CMD_ACKED
    expected = sunspec.limit_value(targets[-1], wmax_dw, pct_sf)
    register, values = slave.writes[-1]
    if controls == 123:
        assert register == controls_reg + 5 and values == [expected, 0, revert_s, 0, 1]
    else:
        failsafe = rounded(Fraction(failsafe_pct10 * 100 * 10**-pct_sf, 1000))
        assert register == controls_reg + 14
        assert values == [1, expected, failsafe, 1 if revert_s else 0, 0, revert_s]
    assert table.output_seq[0] > 0
    assert table.output_dw[0] == max(0, rounded(Fraction(w_raw) * Fraction(10) ** (w_sf + 1)))
