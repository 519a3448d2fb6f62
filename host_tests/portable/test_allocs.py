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


def large_frame_offender():
    a = STATE[0]
    b = a + 1
    c = b + 1
    d = c + 1
    e = d + 1
    f = e + 1
    g = f + 1
    h = g + 1
    i = h + 1
    j = i + 1
    STATE[1] = j & 0xFF


@micropython_only
def test_a_large_frame_is_caught_although_heap_lock_passes():
    report = allocs.measure(large_frame_offender, 100)
    assert report.error is None  # heap_lock alone would call this clean
    assert report.bytes_allocated >= 100 * 64
    try:
        allocs.assert_free(large_frame_offender, 10)
    except AssertionError as error:
        assert "VM_MAX_STATE_ON_STACK" in str(error)
    else:
        raise AssertionError("assert_free passed a function with a heap-allocated frame")


def long_int_offender():
    # 2**30 and beyond is a long int with 31-bit small ints (the ESP32, the 32-bit unix build): allocated.
    STATE[2] = ((STATE[0] + 0x3FFFFFFF) * 4) >> 30


@micropython_only
def test_an_intermediate_beyond_2_to_the_30_is_caught_where_small_ints_have_31_bits():
    import sys

    report = allocs.measure(long_int_offender, 100)
    if sys.maxsize > 2**31:
        assert not report.allocated  # 63-bit small ints: the 64-bit port cannot see this
    else:
        assert isinstance(report.error, MemoryError) and report.bytes_allocated >= 100 * 8
