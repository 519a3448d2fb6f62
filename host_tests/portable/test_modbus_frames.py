"""Known-answer frames from the meter reference (§5), the CRC and the float decoding."""

import crc16
import f32
from testkit import is_micropython


def _hex(text):
    return bytes.fromhex(text.replace(" ", ""))


# Every frame printed in /work/shared/reference/meters-modbus.md §5 (CRC low byte first).
REFERENCE_FRAMES = (
    "01 03 20 04 00 02 8E 0A",
    "01 03 04 3F A0 00 00 F6 05",
    "01 03 04 BE E0 00 00 DF ED",
    "01 04 20 04 00 02 3B CA",
    "01 04 04 3F A0 00 00 F7 B2",
    "01 03 20 12 00 02 6F CE",
    "01 03 04 46 DE A8 00 F0 81",
    "01 03 04 C6 6A 60 00 CE A7",
    "01 04 20 12 00 02 DA 0E",
    "01 03 20 12 00 08 EF C9",
    "01 03 10 46 DE A8 00 46 23 C0 00 46 2A 28 00 45 DE D0 00 28 B2",
    "01 03 00 06 00 02 24 0A",
    "01 03 04 00 14 00 0A 3A 30",
    "01 03 10 1E 00 02 A0 CD",
    "01 03 40 1E 00 02 B1 CD",
    "01 03 00 00 00 0C 45 CF",
    "01 03 00 2C 00 03 C4 02",
    "01 10 00 2E 00 01 02 00 05 60 1D",
    "01 10 00 06 00 01 02 00 05 66 35",
    "0B 03 08 4E 00 02 A6 D6",
    "0B 03 07 D1 00 01 D5 ED",
    "0B 03 08 36 00 50 A7 32",
    "01 04 00 0C 00 02 B1 C8",
    "01 04 04 C3 44 40 00 B6 15",
    "01 04 00 34 00 02 30 05",
    "01 04 04 45 32 20 00 56 87",
    "01 04 00 0C 00 06 B0 0B",
    "01 04 00 48 00 04 71 DF",
    "01 10 00 14 00 02 04 40 A0 00 00 E6 B2",
    "01 10 00 14 00 02 04 40 00 00 00 E6 90",
    "01 83 02 C0 F1",
    "01 84 02 C2 C1",
)


def test_crc_check_value_and_spec_example():
    assert crc16.crc16(b"123456789", 0, 9) == 0x4B37
    assert crc16.crc16_pure(b"123456789", 0, 9) == 0x4B37
    assert crc16.crc16(b"\x02\x07", 0, 2) == 0x1241  # MBSL §6.2.2, sent as 41 12


def test_every_reference_frame_has_a_good_crc_pure_and_fast():
    for text in REFERENCE_FRAMES:
        frame = _hex(text)
        end = len(frame) - 2
        expected = frame[end] | (frame[end + 1] << 8)
        assert crc16.crc16_pure(frame, 0, end) == expected, text
        assert crc16.crc16(frame, 0, end) == expected, text
        # a CRC over the whole frame, its own CRC included, is 0
        assert crc16.crc16(frame, 0, len(frame)) == 0, text


def test_crc_over_a_window_of_a_larger_buffer():
    buffer = bytearray(b"\xff\xee") + _hex("01 03 20 12 00 02") + b"\x00"
    assert crc16.crc16(buffer, 2, 8) == 0xCE6F
    assert crc16.crc16_pure(buffer, 2, 8) == 0xCE6F


def test_viper_crc_is_used_on_micropython():
    assert (crc16.crc16_fast is not None) == is_micropython()


def test_reference_floats_decode_to_fixed_point():
    # DDSU666 P in kW -> deci-watts
    assert f32.decode(_hex("3FA00000"), 0, 10000, 1) == 12500
    assert f32.decode(_hex("BEE00000"), 0, 10000, 1) == -4375
    # DTSU666 Pt 0.1 W -> deci-watts, Ua 0.1 V, Ia mA, PF, Hz
    assert f32.decode(_hex("46DEA800"), 0, 1, 1) == 28500
    assert f32.decode(_hex("C66A6000"), 0, 1, 1) == -15000
    assert f32.decode(_hex("45105000"), 0, 1, 1) == 2309
    assert f32.decode(_hex("45A41000"), 0, 1, 1) == 5250
    assert f32.decode(_hex("459C4C00"), 0, 1, 1) == 5002  # 5001.5 rounds half away from zero
    # SDM120 -196.25 W -> deci-watts; with the CT ratio 20 and /10 from UrAt
    assert f32.decode(_hex("C3444000"), 0, 10, 1) == -1963
    assert f32.decode(_hex("46DEA800"), 0, 20, 1) == 570000


def test_rounding_is_half_away_from_zero_and_exact():
    assert f32.decode(_hex("3F000000"), 0, 1, 1) == 1  # 0.5
    assert f32.decode(_hex("BF000000"), 0, 1, 1) == -1  # -0.5
    assert f32.decode(_hex("3EFFFFFF"), 0, 1, 1) == 0  # just below 0.5
    assert f32.decode(_hex("40200000"), 0, 1, 1) == 3  # 2.5
    assert f32.decode(_hex("3DCCCCCD"), 0, 10, 1) == 1  # 0.1f is a hair above 0.1
    assert f32.decode(_hex("41200000"), 0, 1, 3) == 3  # 10/3
    assert f32.decode(_hex("41300000"), 0, 1, 2) == 6  # 11/2 = 5.5


def test_non_finite_and_huge_values_are_invalid():
    for text in ("7FC00000", "7F800000", "FF800000", "7F800001", "FFFFFFFF"):
        assert f32.decode(_hex(text), 0, 1, 1) == f32.INVALID, text
        assert not f32.is_finite(_hex(text), 0)
    assert f32.decode(_hex("4E800000"), 0, 1, 1) == f32.INVALID  # 2**30
    assert f32.decode(_hex("4E7FFFFF"), 0, 1, 1) == 1073741760  # largest float below 2**30
    assert f32.decode(_hex("CE7FFFFF"), 0, 1, 1) == -1073741760
    assert f32.decode(_hex("4B000000"), 0, 1000, 1) == f32.INVALID  # 8388608 kWh in Wh
    assert f32.is_finite(_hex("4E800000"), 0)


def test_zero_and_subnormals():
    assert f32.decode(_hex("00000000"), 0, 10000, 1) == 0
    assert f32.decode(_hex("80000000"), 0, 10000, 1) == 0
    assert f32.decode(_hex("00000001"), 0, 1000000000, 1) == 0
    assert f32.decode(_hex("00000000"), 0, 1, 1) == 0
