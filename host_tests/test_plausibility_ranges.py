"""Plausibility arithmetic stays within the ESP32's small ints for every value a meter can send."""

import ranges
from hypothesis import example, given, settings
from hypothesis import strategies as st

SMALL = st.integers(min_value=-(1 << 30), max_value=(1 << 30) - 1)


@settings(max_examples=400, deadline=None)
@given(
    max_current_ma=st.integers(min_value=1, max_value=3000000),
    frequency_chz=SMALL,
    voltage_dv=st.lists(SMALL, min_size=3, max_size=3),
    current_ma=st.lists(SMALL, min_size=3, max_size=3),
    power_dw=st.lists(SMALL, min_size=3, max_size=3),
    phases=st.sampled_from([1, 3]),
    grid_phases=st.sampled_from([1, 2, 3]),
    nominal_voltage_v=st.integers(min_value=100, max_value=240),
)
@example(3000000, 5000, [2300] * 3, [-(1 << 30)] * 3, [0] * 3, 3, 3, 230)
@example(3000000, 5000, [2300] * 3, [0] * 3, [-(1 << 30)] * 3, 3, 3, 230)
@example(3000000, 5000, [3000] * 3, [3000000] * 3, [0] * 3, 3, 3, 240)
@example(600000, 6000, [3010] * 3, [600000] * 3, [1 << 29] * 3, 3, 2, 240)
def test_any_reading_is_checked_within_range(max_current_ma, frequency_chz, voltage_dv, current_ma, power_dw, phases,
                                              grid_phases, nominal_voltage_v):
    plausibility = ranges.load("plausibility")
    reading = ranges.load("reading").Reading(phases)
    reading.frequency_chz = frequency_chz
    for phase in range(3):
        reading.voltage_dv[phase] = voltage_dv[phase]
        reading.current_ma[phase] = current_ma[phase]
        reading.phase_power_dw[phase] = power_dw[phase]
    check = plausibility.Plausibility(max_current_ma, phases=grid_phases, nominal_voltage_v=nominal_voltage_v)
    result = check.check(reading)
    assert result in (0, 1, 2, 3, 4)
