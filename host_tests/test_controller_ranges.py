"""The controller stays within the ESP32's small ints and never commands a limit an inverter refuses.

The controller and the fleet are loaded with every arithmetic result checked
(ranges.load) and driven by hypothesis across the documented input ranges: up
to 30 inverters, plants up to 1 MW, meter readings up to 10 MW either way,
export limits up to 1 MW, any tick (wrapping included), acknowledgements,
failures and output reports in any order, and tuning keywords across their
documented ranges (ramps up to 100 kW/s, lags up to 60 s).
"""

import ranges
from hypothesis import given, settings
from hypothesis import strategies as st

MAX_PLANT_W = 1_000_000
MAX_READING_W = 10_000_000

controller = ranges.load("controller", "fleet", "inverter_model", "failsafe")
checked_fleet = ranges.load("fleet")
checked_reading = ranges.load("reading")


@st.composite
def plants(draw):
    count = draw(st.integers(1, 30))
    per_inverter_max_w = MAX_PLANT_W // count
    rows = []
    for _ in range(count):
        rated_w = draw(st.integers(50, per_inverter_max_w))
        rows.append((rated_w, draw(st.integers(0, 2)), draw(st.integers(1, 4)), draw(st.booleans())))
    return rows


limits = st.integers(-1, MAX_PLANT_W)
phase_limits = st.none() | st.lists(limits, min_size=3, max_size=3)
events = st.lists(
    st.tuples(
        st.integers(0, 2000),  # ms to the next step
        st.integers(-MAX_READING_W, MAX_READING_W),  # total reading, W
        st.lists(st.integers(-MAX_READING_W // 3, MAX_READING_W // 3), min_size=3, max_size=3),
        st.sampled_from(("sample", "stale", "invalid", "ack", "fail", "report", "none")),
        st.integers(0, 29),  # which inverter the link event is about
        st.integers(0, MAX_PLANT_W),  # reported output, W
    ),
    min_size=1,
    max_size=40,
)


def build(rows, limit_w, phase_limit_w, position, tuning):
    table = checked_fleet.Fleet(len(rows))
    for index, (rated_w, phase, inputs, can_off) in enumerate(rows):
        table.add(index, rated_w, phase=phase, inputs=inputs)
        table.can_switch_off[index] = can_off
    control = controller.Controller(table, limit_w, phase_limit_w, meter_position=position, **tuning)
    return table, control


def check_targets(table):
    for index in range(table.count):
        target = table.target_dw[index]
        if target == 0:
            assert table.can_switch_off[index], "switched off where the link cannot"
        else:
            assert table.min_dw[index] <= target <= table.rated_dw[index], (index, target)


tunings = st.fixed_dictionaries(
    {},
    optional={
        "margin_w": st.integers(0, 1000),
        "deadband_w": st.integers(0, 1000),
        "min_interval_ms": st.integers(0, 10000),
        "settle_ms": st.integers(0, 10000),
        "response_ms": st.integers(0, 30000),
        "failsafe_ms": st.integers(500, 60000),
        "jitter_pct": st.integers(0, 1000),
        "trend_pct": st.integers(0, 1000),
        "slow_margin_w_per_s": st.integers(0, 100),
        "cut_spread_w": st.integers(1, MAX_PLANT_W),
        "ramp_w_per_s": st.integers(1, 100_000),
        "max_response_ms": st.integers(1000, 60000),
    },
)


@settings(max_examples=300, deadline=None)
@given(plants(), limits, phase_limits, st.sampled_from((0, 1)), tunings, st.integers(0, (1 << 30) - 1), events)
def test_step_stays_in_range_and_commands_valid_limits(rows, limit_w, phase_limit_w, position, tuning, start, steps):
    table, control = build(rows, limit_w, phase_limit_w, position, tuning)
    reading = checked_reading.Reading()
    now = start
    for gap_ms, total_w, phase_w, event, which, output_w in steps:
        now = (now + gap_ms) & 0x3FFFFFFF
        index = which % table.count
        if event == "sample":
            reading.valid = True
            reading.seq += 1
            reading.t_ms = now
            reading.power_dw = total_w * 10
            for phase in range(3):
                reading.phase_power_dw[phase] = phase_w[phase] * 10
        elif event == "invalid":
            reading.valid = False
        elif event == "ack" and table.cmd_state[index] in (1, 2):
            table.sent(index, now)
            table.acked(index, now)
        elif event == "fail" and table.cmd_state[index] in (1, 2):
            table.sent(index, now)
            table.failed(index, now)
        elif event == "report":
            table.report_output(index, min(output_w, rows[index][0]) * 10, now)
        before = list(table.target_dw)
        issued = control.step(now, reading)
        assert 0 <= issued
        check_targets(table)
        if control.mode != controller.MODE_REGULATING:
            # The fail-safe goes out one command at a time: each limit stays or becomes its fail-safe limit.
            for i in range(table.count):
                assert table.target_dw[i] in (before[i], control.failsafe_dw[i])


@settings(max_examples=200, deadline=None)
@given(plants(), limits, phase_limits)
def test_failsafe_limits_cannot_export_more_than_allowed(rows, limit_w, phase_limit_w):
    table, control = build(rows, limit_w, phase_limit_w, 0, {})
    plan = [control.failsafe_dw[i] for i in range(table.count)]
    floor = [0 if table.can_switch_off[i] else table.min_dw[i] for i in range(table.count)]
    # Each constraint holds, unless even the floors (minimum or off) exceed it.
    if limit_w >= 0:
        assert sum(plan) <= max(limit_w * 10, sum(floor))
        if limit_w == 0:
            assert plan == floor
    for phase in range(3):
        if phase_limit_w is not None and phase_limit_w[phase] >= 0:
            on_phase = [i for i in range(table.count) if table.phase[i] == phase]
            assert sum(plan[i] for i in on_phase) <= max(phase_limit_w[phase] * 10, sum(floor[i] for i in on_phase))
    assert all(p == 0 or table.min_dw[i] <= p <= table.rated_dw[i] for i, p in enumerate(plan))


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from((1, 6, 30)),
    st.sampled_from((0, MAX_PLANT_W)),
    st.sampled_from(({}, {"ramp_w_per_s": 100_000, "jitter_pct": 1000, "trend_pct": 1000,
                          "slow_margin_w_per_s": 100, "max_response_ms": 60000, "cut_spread_w": 1})),
    st.integers(0, (1 << 30) - 1),
)
def test_extremes_of_every_range_together(count, limit_w, tuning, start):
    """The corners hypothesis rarely reaches by chance: the biggest plant, the widest swings, the
    slowest acknowledgements and the largest tuning values, for long enough to learn lags."""
    rows = [(MAX_PLANT_W // count, index % 3, 4, index % 2 == 0) for index in range(count)]
    table, control = build(rows, limit_w, [limit_w, -1, 0], 0, tuning)
    reading = checked_reading.Reading()
    now = start
    for round_number in range(400):
        now = (now + 250) & 0x3FFFFFFF
        if round_number % 4 == 0:
            swing_w = (-MAX_READING_W, MAX_READING_W, 0, MAX_READING_W // 7)[(round_number // 4) % 4]
            reading.valid = True
            reading.seq += 1
            reading.t_ms = now
            reading.power_dw = swing_w * 10
            for phase in range(3):
                reading.phase_power_dw[phase] = swing_w * 10 // 3
        control.step(now, reading)
        check_targets(table)
        for index in range(table.count):
            if table.cmd_state[index] == 1 and round_number % 40 == 39:  # slow link: 10 s per delivery
                table.sent(index, now)
                table.acked(index, now)
            if round_number % 20 == index % 20:
                table.report_output(index, table.target_dw[index] // (1 + round_number % 3), now)
    assert control.commands > 0
