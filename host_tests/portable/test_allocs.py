"""The allocation helper catches real offenders and passes allocation-free code."""

import allocs
from testkit import micropython_only

BUFFER = bytearray(16)
STATE = bytearray(4)


def clean_checksum():
    total = 0
    for index in range(len(BUFFER)):
        total = (total + BUFFER[index]) & 0xFFFF
    STATE[0] = total & 0xFF


def slicing_offender():
    STATE[0] = len(BUFFER[2:6])


def float_offender():
    STATE[0] = int(BUFFER[0] * 0.5)


def bound_method_offender():
    append = BUFFER.extend  # taking obj.method as a value allocates
    STATE[0] = 1 if append else 0


@micropython_only
def test_clean_code_is_reported_free():
    report = allocs.assert_free(clean_checksum, 500)
    assert report.bytes_allocated == 0 and report.error is None


@micropython_only
def test_slicing_is_caught_with_its_byte_count():
    report = allocs.measure(slicing_offender, 100)
    assert report.allocated
    assert isinstance(report.error, MemoryError)
    assert report.bytes_allocated >= 100 * 4


@micropython_only
def test_float_arithmetic_is_caught():
    assert allocs.measure(float_offender, 100).allocated


@micropython_only
def test_bound_method_is_caught():
    assert allocs.measure(bound_method_offender, 100).allocated


@micropython_only
def test_assert_free_fails_on_an_offender():
    try:
        allocs.assert_free(slicing_offender, 10)
    except AssertionError as error:
        assert "allocates" in str(error)
    else:
        raise AssertionError("assert_free passed an allocating function")
