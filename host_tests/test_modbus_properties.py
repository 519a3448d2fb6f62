"""Property tests: the response parser on hostile input, and exact, in-range float decoding.

The master, the CRC, the float decoding and the drivers run here as range-
instrumented copies (host_tests/ranges.py): any intermediate outside the
ESP32's small ints (+-2**30) or any float fails the test.
"""

import struct
from fractions import Fraction

import meter_ddsu666
import meter_dtsu666 as plain_dtsu666
import meter_sdm120
import meter_sdm630
import meters as plain_meters
import modbus_error
import ranges
from crc16 import crc16_pure
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modbus_frames import exception_response, read_response, words
from reading import Reading
from replay_stream import ReplayStream

f32 = ranges.load("f32")
modbus = ranges.load("modbus", "crc16")
meters = ranges.load("meters", "crc16", "modbus", "f32")
meter_dtsu666 = ranges.load("meter_dtsu666", "crc16", "modbus", "f32", "meters")  # its driver on the checked copies

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FINAL = {modbus.DONE, modbus.TIMEOUT, modbus.BAD_FRAME, modbus.EXCEPTION}


def reference(bits, num, den):
    """round(float * num / den), halves away from zero, or INVALID; computed with exact fractions."""
    value = struct.unpack(">f", struct.pack(">I", bits))[0]
    if value != value or value in (float("inf"), float("-inf")):
        return f32.INVALID
    exact = Fraction(value) * num / den
    magnitude = abs(exact)
    rounded = int(magnitude)
    if magnitude - rounded >= Fraction(1, 2):
        rounded += 1
    if rounded > f32.LIMIT:
        return f32.INVALID
    return -rounded if exact < 0 else rounded


def _meter_scales():
    """Every num/den the drivers use, with the extreme CT/VT ratios applied."""
    scales = set()
    for model in (
        meter_ddsu666.DDSU666,
        plain_dtsu666.DTSU666,
        plain_dtsu666.DTSU666H,
        meter_sdm120.SDM120,
        meter_sdm630.SDM630,
    ):
        for _register, _count, fields in model[4]:
            for base in range(0, len(fields), 5):
                _offset, _target, num, den, ratio = fields[base : base + 5]
                for ct, vt10 in ((1, 10), (20, 10), (9999, 10), (1, 9999), (120, 25), (9999, 100)):
                    scaled = plain_meters.ratio_scale(num, den, ratio, ct, vt10)
                    if scaled[0]:
                        scales.add(scaled)
    return sorted(scales)


METER_SCALES = _meter_scales()
float_bits = st.one_of(
    st.integers(0, 0xFFFFFFFF),
    st.floats(width=32, allow_nan=True).map(lambda value: struct.unpack(">I", struct.pack(">f", value))[0]),
)


@SETTINGS
@given(bits=float_bits, scale=st.sampled_from(METER_SCALES))
def test_decoding_is_exact_and_in_range_for_every_meter_scale(bits, scale):
    num, den = scale
    assert f32.decode(struct.pack(">I", bits), 0, num, den) == reference(bits, num, den)


@SETTINGS
@given(bits=float_bits, num=st.integers(1, (1 << 30) - 1), den=st.integers(1, (1 << 15) - 1))
def test_decoding_is_exact_and_in_range_for_any_documented_scale(bits, num, den):
    assert f32.decode(b"\x00\x00" + struct.pack(">I", bits), 2, num, den) == reference(bits, num, den)


# --- the response parser ---------------------------------------------------------------


@st.composite
def hostile_answers(draw):
    """(bytes on the line, the intact answer if it is in there unchanged, chunk size)."""
    count = draw(st.sampled_from([1, 2, 8, 12, 40]))
    registers = draw(st.lists(st.integers(0, 0xFFFF), min_size=count, max_size=count))
    good = read_response(1, 3, words(*registers))
    kind = draw(st.sampled_from(["good", "noise", "truncated", "corrupted", "random", "overlong", "exception"]))
    intact = good
    if kind == "noise":
        line = draw(st.binary(max_size=40)) + good
    elif kind == "truncated":
        line = good[: draw(st.integers(0, len(good) - 1))]
        intact = None
    elif kind == "corrupted":
        position = draw(st.integers(0, len(good) - 1))
        flip = draw(st.integers(1, 255))
        line = good[:position] + bytes([good[position] ^ flip]) + good[position + 1 :]
        intact = None
    elif kind == "random":
        line = draw(st.binary(max_size=300))
        intact = None
    elif kind == "overlong":
        line = good + draw(st.binary(min_size=1, max_size=300))
    elif kind == "exception":
        line = draw(st.binary(max_size=10)) + exception_response(1, 3, draw(st.integers(1, 255)))
        intact = None
    else:
        line = good
    return count, line, intact, draw(st.integers(1, 64))


@SETTINGS
@given(answer=hostile_answers(), step_ms=st.integers(1, 20), retries=st.integers(0, 2))
def test_parser_returns_a_value_or_an_error_and_never_waits_past_its_timeout(answer, step_ms, retries):
    count, line, intact, chunk = answer
    stream = ReplayStream(capacity=1024).answer(*([line] * (retries + 1)))
    stream.chunk = chunk
    timeout_ms = 100
    master = modbus.Master(stream, timeout_ms=timeout_ms, retries=retries)
    assert master.start_read(1, 3, 0x2000, count, 0)
    now = 0
    status = modbus.PENDING
    while status == modbus.PENDING:
        now += step_ms
        status = master.poll(now)
        assert status in FINAL or status == modbus.PENDING
        # each attempt ends by its timeout at the latest; polls come every step_ms
        assert now <= (retries + 1) * (timeout_ms + step_ms)
    if status == modbus.DONE:
        start = master.offset - 3
        frame = bytes(master.rx[start : start + 5 + 2 * count])
        assert frame[:3] == bytes([1, 3, 2 * count])
        assert crc16_pure(frame, 0, len(frame)) == 0
    else:
        error = master.error()
        assert isinstance(error, modbus_error.ModbusError)
        assert error.code == (master.exception_code if status == modbus.EXCEPTION else status)
    if intact is not None:
        assert status == modbus.DONE
        assert bytes(master.rx[master.offset - 3 : master.offset + 2 + 2 * count]) == intact


# --- a driver over random register contents ----------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ct=st.integers(1, 9999),
    vt10=st.integers(1, 200),
    power=st.lists(float_bits, min_size=4, max_size=4),
    slow=st.lists(float_bits, min_size=6, max_size=6),
    energy=float_bits,
    invert=st.booleans(),
)
def test_dtsu666_decoding_stays_in_range_for_any_float(ct, vt10, power, slow, energy, invert):
    def floats(values):
        return b"".join(struct.pack(">I", value) for value in values)

    stream = ReplayStream(capacity=1024).answer(
        read_response(1, 3, words(ct, vt10)),
        read_response(1, 3, struct.pack(">ffffff", 2300.0, 2300.0, 2300.0, 0.0, 0.0, 0.0)),  # Ua with the U/I block
        read_response(1, 3, struct.pack(">f", 1.0)),
        read_response(1, 3, struct.pack(">f", 5000.0)),
        read_response(1, 3, floats(power)),
        read_response(1, 3, floats(slow)),
        read_response(1, 3, floats(power + [0])),  # the longer power read, one float more
        read_response(1, 3, struct.pack(">f", 5000.0)),
        read_response(1, 3, floats(power)),
        read_response(1, 3, floats([energy])),
    )
    reading = Reading()
    master = modbus.Master(stream, late_ms=0)
    meter = meter_dtsu666.Chint(master, 1, reading, meter_dtsu666.DTSU666, invert=invert, slow_every=1, period_ms=0)
    statuses = []
    for now in range(0, 400, 2):
        status = meter.step(now)
        if status not in (meters.IDLE, meters.BUSY, meters.WAIT_BUS):
            statuses.append(status)
    assert statuses[0] == meters.STARTED
    assert meter.ct_ratio == ct and meter.vt_ratio10 == vt10
    expected_valid = all(
        reference(bits, *plain_meters.ratio_scale(1, 1, plain_meters.R_CTVT, ct, vt10)) != f32.INVALID for bits in power
    )
    assert reading.valid == expected_valid
    if expected_valid:
        sign = -1 if invert else 1
        num, den = plain_meters.ratio_scale(1, 1, plain_meters.R_CTVT, ct, vt10)
        assert reading.power_dw == sign * reference(power[0], num, den)
    for value in (reading.power_dw, *reading.phase_power_dw, *reading.voltage_dv, *reading.current_ma):
        assert -(1 << 30) <= value < (1 << 30)
    num, den = plain_meters.ratio_scale(1000, 1, plain_meters.R_CTVT, ct, vt10)
    expected = reference(energy, num, den) if num else 0
    if expected == f32.INVALID:
        finite = (energy >> 23) & 0xFF != 0xFF
        expected = f32.LIMIT if finite else 0  # saturates; NaN/Inf leave the old value
    assert (reading.export_wh if invert else reading.import_wh) == expected
