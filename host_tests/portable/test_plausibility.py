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


def test_a_bad_rating_is_refused():
    raises(ValueError, plausibility.Plausibility, 0)


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
