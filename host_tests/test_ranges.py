"""The range helper catches real overflow and float offenders, and passes clean code."""

import textwrap

import pytest
import ranges

OFFENDER = textwrap.dedent(
    """
    from array import array

    def scale_dw(power_dw, ratio):
        # the product overflows although the result fits
        return power_dw * ratio // 1000

    def mean_dw(a, b):
        return (a + b) / 2

    def accumulate(samples):
        total = array("i", [0])
        for sample in samples:
            total[0] += sample
        return total[0]

    def from_register_pair(high, low):
        return (high << 16) | low

    def clean_mean_dw(a, b):
        return (a + b) // 2
    """
)


@pytest.fixture
def offender(tmp_path):
    path = tmp_path / "offender.py"
    path.write_text(OFFENDER)
    return ranges.load_file(str(path))


def test_overflowing_intermediate_is_caught(offender):
    assert offender.scale_dw(1000, 3) == 3
    with pytest.raises(ranges.RangeError, match=r"offender.py:6 'power_dw \* ratio' = 34359738368"):
        offender.scale_dw(1 << 25, 1 << 10)


def test_float_result_is_caught(offender):
    with pytest.raises(ranges.RangeError, match="float"):
        offender.mean_dw(10, 20)
    assert offender.clean_mean_dw(10, 20) == 15


def test_overflow_through_an_array_is_caught(offender):
    assert offender.accumulate([1, 2, 3]) == 6
    with pytest.raises(ranges.RangeError, match="outside"):
        offender.accumulate([1 << 29, 1 << 29])


def test_32_bit_register_pair_is_caught(offender):
    assert offender.from_register_pair(0x3FFF, 0xFFFF) == (1 << 30) - 1
    with pytest.raises(ranges.RangeError):
        offender.from_register_pair(0x4000, 0)


def test_literal_outside_the_range_is_caught(tmp_path):
    path = tmp_path / "mask.py"
    path.write_text("MASK = 0xFFFFFFFF\n")
    with pytest.raises(ranges.RangeError, match="4294967295"):
        ranges.load_file(str(path))


def test_load_checks_a_lib_module_and_leaves_sys_modules_alone():
    import sys

    fleet = ranges.load("fleet")
    table = fleet.Fleet(2)
    table.add(0, rated_w=800, phase=1, inputs=2)
    assert table.min_dw[0] == 240
    assert sys.modules.get("fleet") is not fleet
    with pytest.raises(ranges.RangeError, match="outside"):
        table.add(1, rated_w=1 << 28)
