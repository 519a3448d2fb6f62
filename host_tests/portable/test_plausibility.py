"""Each plausibility rule fires on the data that breaks it, and only then."""

import allocs
import plausibility
from reading import Reading
from testkit import micropython_only, raises


def healthy(phases=3):
    reading = Reading(phases)
    reading.frequency_chz = 5001
    for phase in range(phases):
        reading.voltage_dv[phase] = 2305
        reading.current_ma[phase] = 10000
        reading.phase_power_dw[phase] = -22000  # 2.2 kW export at 10 A, 230.5 V: cos phi 0.95
    return reading


def test_a_healthy_reading_passes():
    check = plausibility.Plausibility(max_current_ma=80000)
    assert check.check(healthy()) == plausibility.OK
    assert check.check(healthy(1)) == plausibility.OK


def test_voltage_outside_176_to_288_v():
    check = plausibility.Plausibility(80000)
    reading = healthy()
    reading.voltage_dv[2] = 1750
    assert check.check(reading) == plausibility.VOLTAGE and check.phase == 2
    reading.voltage_dv[2] = 2890
    assert check.check(reading) == plausibility.VOLTAGE
    reading.voltage_dv[2] = 2880
    reading.phase_power_dw[2] = 0
    assert check.check(reading) == plausibility.OK


def test_current_above_rating_times_ct():
    check = plausibility.Plausibility(max_current_ma=6000 * 20)  # 6 A meter behind a 100/5 CT
    reading = healthy()
    reading.current_ma[1] = -120001
    assert check.check(reading) == plausibility.CURRENT and check.phase == 1


def test_frequency_outside_45_to_65_hz():
    check = plausibility.Plausibility(80000)
    reading = healthy()
    reading.frequency_chz = 0  # a meter answering zeros
    assert check.check(reading) == plausibility.FREQUENCY
    reading.frequency_chz = 6501
    assert check.check(reading) == plausibility.FREQUENCY


def test_power_above_apparent_power():
    check = plausibility.Plausibility(80000)
    reading = healthy()
    reading.phase_power_dw[0] = 23520  # 2352 W > 230.5 V x 10 A x 1.01 + 10 W = 2338 W
    assert check.check(reading) == plausibility.POWER and check.phase == 0
    reading.phase_power_dw[0] = -23300
    assert check.check(reading) == plausibility.OK
    reading.current_ma[0] = 0  # no current, yet 2.3 kW: a CT off its cable
    assert check.check(reading) == plausibility.POWER


def test_the_largest_ct_stays_in_range():
    check = plausibility.Plausibility(600000)
    reading = healthy(1)
    reading.voltage_dv[0] = 2880
    reading.current_ma[0] = 600000
    reading.phase_power_dw[0] = 1728000
    assert check.check(reading) == plausibility.OK


def split_phase():
    """A 120/240 V split-phase house on a three-phase meter: 120 V legs on L1 and L2, L3 unused (0 V, 0 A, 0 W)."""
    reading = healthy()
    reading.frequency_chz = 6000
    for phase in range(2):
        reading.voltage_dv[phase] = 1205
        reading.phase_power_dw[phase] = -11000  # 1.1 kW export at 10 A, 120.5 V
    reading.voltage_dv[2] = 0
    reading.current_ma[2] = 0
    reading.phase_power_dw[2] = 0
    return reading


def test_split_phase_checks_two_legs_at_120_v():
    check = plausibility.Plausibility(80000, phases=2, nominal_voltage_v=120)
    reading = split_phase()
    assert check.check(reading) == plausibility.OK  # the unused L3 at 0 V is not checked
    assert plausibility.Plausibility(80000).check(reading) == plausibility.VOLTAGE  # a 3-phase check fails it
    for voltage_dv, expected in ((919, plausibility.VOLTAGE), (920, plausibility.OK), (1500, plausibility.OK),
                                 (1501, plausibility.VOLTAGE), (2300, plausibility.VOLTAGE)):
        reading.voltage_dv[1] = voltage_dv
        reading.phase_power_dw[1] = 0
        assert check.check(reading) == expected, voltage_dv
    assert check.phase == 1
    reading.voltage_dv[1] = 1205
    reading.phase_power_dw[1] = -12300  # 1230 W > 120.5 V x 10 A x 1.01 + 10 W = 1227 W
    assert check.check(reading) == plausibility.POWER and check.phase == 1


def test_the_voltage_window_follows_the_nominal_voltage():
    windows = {nominal: (check.voltage_min_dv, check.voltage_max_dv) for nominal, check in (
        (nominal, plausibility.Plausibility(80000, nominal_voltage_v=nominal)) for nominal in (120, 230, 240))}
    assert windows == {120: (920, 1500), 230: (1760, 2880), 240: (1840, 3010)}


def test_phases_beyond_the_reading_are_not_checked():
    check = plausibility.Plausibility(80000, phases=3)
    assert check.check(healthy(1)) == plausibility.OK  # a single-phase meter on a 3-phase setting: L1 only


def test_bad_settings_are_refused():
    raises(ValueError, plausibility.Plausibility, 0)
    raises(ValueError, plausibility.Plausibility, 80000, 1, 10, 0)  # phases
    raises(ValueError, plausibility.Plausibility, 80000, 1, 10, 4)
    raises(ValueError, plausibility.Plausibility, 80000, 1, 10, 2, 99)  # nominal_voltage_v
    raises(ValueError, plausibility.Plausibility, 80000, 1, 10, 2, 241)


@micropython_only
def test_check_allocates_nothing():
    check = plausibility.Plausibility(80000)
    good = healthy()
    bad = healthy()
    bad.phase_power_dw[1] = 99999

    def both():
        check.check(good)
        check.check(bad)

    allocs.assert_free(both)
    split = plausibility.Plausibility(80000, phases=2, nominal_voltage_v=120)
    legs = split_phase()
    allocs.assert_free(lambda: split.check(legs))
