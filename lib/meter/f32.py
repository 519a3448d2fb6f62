"""IEEE-754 float32 registers to fixed-point integers, with integer arithmetic only.

Meters send measurements as float32 in two registers, high word first
("ABCD"). `decode(buf, offset, num, den)` reads the 4 bytes at `offset` and
returns round(value * num / den) as an int, e.g. a DDSU666 power in kW with
num=10000, den=1 gives deci-watts. Rounding is to nearest, halves away from
zero, computed exactly (no float ever exists, not even on CPython).

NaN, +-Inf and results whose magnitude exceeds LIMIT (2**30 - 1) return
INVALID (-2**30, a value no valid result can take): the caller treats the
reading as bad, never as a number.

Ranges: num in 1 .. 2**30 - 1, den in 1 .. 2**15 - 1. Every intermediate is
a non-negative int below 2**30 (the ESP32's small-int range): the 24-bit
mantissa times `num` (up to 2**54) is held as four 15-bit digits, and the
division by `den` and the power-of-two exponent work digit by digit.
host_tests/test_modbus_properties.py proves it with the range helper
(host_tests/ranges.py): decoding is exact against a rational reference and
no intermediate leaves the range, for every meter scale and any float.

Timing and allocation: straight-line small-int code, at most a few dozen
operations per value; allocates nothing. The functions are
@micropython.native: besides the speed, a bytecode frame this large (more
than 11 words of locals and stack) would be taken from the heap on every
call. So this module is compiled for the ESP32's Xtensa core; on CPython
the decorators do nothing.
"""

from compat import const, micropython

LIMIT = const(0x3FFFFFFF)
INVALID = const(-0x3FFFFFFF - 1)
_DIGIT = const(0x7FFF)


@micropython.native
def _digit(d3, d2, d1, d0, index):
    if index == 0:
        return d0
    if index == 1:
        return d1
    if index == 2:
        return d2
    if index == 3:
        return d3
    return 0


@micropython.native
def _slice(d3, d2, d1, d0, start):
    """Bits start .. start+14 of the 60-bit number d3:d2:d1:d0 (bits below 0 read as 0)."""
    if start < 0:
        if start <= -15:
            return 0
        return (d0 << -start) & _DIGIT
    index = start // 15
    offset = start - index * 15
    low = _digit(d3, d2, d1, d0, index) >> offset
    high = _digit(d3, d2, d1, d0, index + 1) << (15 - offset)
    return (low | high) & _DIGIT


@micropython.native
def scale(mantissa, shift, num, den):
    """round(mantissa * 2**shift * num / den) for mantissa < 2**24; -1 if above LIMIT."""
    # The product mantissa * num as four 15-bit digits p3:p2:p1:p0 (< 2**55).
    m0 = mantissa & _DIGIT
    m1 = mantissa >> 15
    n0 = num & _DIGIT
    n1 = num >> 15
    low = m0 * n0
    p0 = low & _DIGIT
    cross_a = m0 * n1
    cross_b = m1 * n0
    middle = (cross_a & _DIGIT) + (cross_b & _DIGIT) + (low >> 15)
    p1 = middle & _DIGIT
    high = m1 * n1 + (middle >> 15) + (cross_a >> 15) + (cross_b >> 15)
    p2 = high & _DIGIT
    p3 = high >> 15
    if shift >= 0:
        # value = (p << shift) / den: beyond 2**45 the quotient cannot fit.
        start = 45 - shift
        while start < 55:
            if _slice(p3, p2, p1, p0, start):
                return -1
            start += 15
        n2 = _slice(p3, p2, p1, p0, 30 - shift)
        n1 = _slice(p3, p2, p1, p0, 15 - shift)
        n0 = _slice(p3, p2, p1, p0, -shift)
        q2 = n2 // den
        rest = n2 - q2 * den
        current = (rest << 15) | n1
        q1 = current // den
        rest = current - q1 * den
        current = (rest << 15) | n0
        q0 = current // den
        rest = current - q0 * den
        if q2:
            return -1
        result = (q1 << 15) | q0
        if rest + rest >= den:
            if result >= LIMIT:
                return -1
            result += 1
        return result
    # value = floor(p / den) / 2**k, rounded: the remainder of the division
    # can never turn a tie, so round((q + frac) / 2**k) = (q >> k) + bit k-1 of q.
    k = -shift
    if k > 56:
        return 0
    q3 = p3 // den
    current = ((p3 - q3 * den) << 15) | p2
    q2 = current // den
    current = ((current - q2 * den) << 15) | p1
    q1 = current // den
    current = ((current - q1 * den) << 15) | p0
    q0 = current // den
    if _slice(q3, q2, q1, q0, k + 30) or _slice(q3, q2, q1, q0, k + 45):
        return -1
    result = (_slice(q3, q2, q1, q0, k + 15) << 15) | _slice(q3, q2, q1, q0, k)
    if _slice(q3, q2, q1, q0, k - 1) & 1:
        if result >= LIMIT:
            return -1
        result += 1
    return result


@micropython.native
def decode(buf, offset, num, den):
    """The float32 at buf[offset:offset+4] (big-endian) times num/den, rounded; INVALID if not finite or too big."""
    b0 = buf[offset]
    b1 = buf[offset + 1]
    exponent = ((b0 & 0x7F) << 1) | (b1 >> 7)
    if exponent == 0xFF:
        return INVALID
    mantissa = ((b1 & 0x7F) << 16) | (buf[offset + 2] << 8) | buf[offset + 3]
    if exponent:
        mantissa |= 0x800000
        shift = exponent - 150
    else:
        shift = -149
    if mantissa == 0:
        return 0
    magnitude = scale(mantissa, shift, num, den)
    if magnitude < 0:
        return INVALID
    if b0 & 0x80:
        return -magnitude
    return magnitude


@micropython.native
def is_finite(buf, offset):
    """False for the NaN and +-Inf patterns (exponent all ones)."""
    return ((buf[offset] & 0x7F) << 1 | buf[offset + 1] >> 7) != 0xFF
