"""Hoymiles frame layer against the known-answer vectors of the reference (TX and RX)."""

import allocs
import hm_answers
import hm_band
import hm_commands
import hm_family
import hm_fragments
import hm_frames
import hm_models
from hm_crc import crc8, crc16
from testkit import micropython_only, raises

INVERTER = hm_frames.frame_address(hm_frames.serial_bytes("116171603546"))
DTU = hm_frames.frame_address(hm_frames.serial_bytes("199980122304"))
HM600 = hm_frames.frame_address(hm_frames.serial_bytes("114172818832"))
TIME_S2000 = 0x657206B8 - 946684800  # 2023-12-07 17:54:00 UTC

# The HM-600 answer captured in OpenDTU issue 1022: 42-byte payload, three fragments.
RX_HM600 = (
    "95 82 97 74 01 82 97 74 01 01 00 01 01 4F 00 2F 00 9D 01 50 00 2F 00 9F 00 02 8A",
    "95 82 97 74 01 82 97 74 01 02 3B F4 00 02 35 06 09 B5 09 B0 09 01 13 86 01 2E DE",
    "95 82 97 74 01 82 97 74 01 83 00 00 00 0D 03 E8 01 6C 00 0E DD 00 4E",
)


def hexbytes(text):
    return bytes.fromhex(text.replace(" ", ""))


def with_crc16(text):
    """A payload given in hex, followed by its CRC16 (high byte first), as assemble() leaves it."""
    data = hexbytes(text)
    crc = crc16(data, 0, len(data))
    return bytearray(data + bytes((crc >> 8, crc & 0xFF)))


def built(builder, *args):
    buf = bytearray(hm_frames.MAX_FRAME_LEN)
    length = builder(buf, *args)
    return bytes(buf[:length])


def test_crc_algorithms():
    assert crc16(hexbytes("00000B00"), 0, 4) == 0x1407
    assert crc16(b"123456789", 0, 9) == 0x4B37  # CRC-16/MODBUS check value
    assert crc8(b"", 0, 0) == 0
    # chained over two pieces = over the whole
    data = hexbytes("0001014F002F009D0150002F009F0002")
    assert crc16(data, 8, 16, crc16(data, 0, 8)) == crc16(data, 0, 16)


def test_addresses_from_serials():
    serial = hm_frames.serial_bytes("116171603546")
    assert INVERTER == hexbytes("71603546")
    assert hm_frames.radio_address(serial) == hexbytes("0171603546")
    assert hm_frames.radio_address(hm_frames.serial_bytes("199980122304")) == hexbytes("0180122304")
    assert hm_frames.prefix(hm_frames.serial_bytes("1164A00859FE")) == 0x1164
    raises(ValueError, hm_frames.serial_bytes, "11617160354G")
    raises(ValueError, hm_frames.serial_bytes, "1161716035461")


def test_families_from_prefixes():
    family = hm_family.family_of_prefix
    assert family(0x1121) == hm_models.FAMILY_HM_1T
    assert family(0x1141) == hm_models.FAMILY_HM_2T
    assert family(0x1161) == hm_models.FAMILY_HM_4T
    assert family(0x1062) == hm_models.FAMILY_HM_4T
    assert family(0x1144) == hm_models.FAMILY_HMS_2T  # HMS before the HM rule
    assert family(0x1146) == hm_models.FAMILY_HMS_2T
    assert family(0x1382) == hm_models.FAMILY_HMT_6T
    assert family(0x1011) == hm_models.FAMILY_UNKNOWN  # MI: another protocol
    assert family(0x1125) == family(0x1400) == hm_models.FAMILY_HMS_1T_V2
    assert family(0x1420) == family(0x1165) == hm_models.FAMILY_HMS_4T  # listed; ahoy's rule
    assert family(0x1361) == hm_models.FAMILY_HMT_4T and family(0x1371) == hm_models.FAMILY_HMT_6T
    assert hm_models.radio_of(family(0x1141)) == hm_models.RADIO_NRF24
    assert hm_models.radio_of(family(0x1164)) == hm_models.RADIO_CMT2300A
    assert hm_models.is_hms(hm_models.FAMILY_HMS_1T) and not hm_models.is_hms(hm_models.FAMILY_HMT_4T)
    assert hm_models.is_hms(hm_models.FAMILY_HMS_1T_V2)


def test_limit_vectors():
    c = hm_commands
    cases = (
        (4000, c.LIMIT_ABSOLUTE, False, "51 71 60 35 46 80 12 23 04 81 0B 00 0F A0 00 00 56 02 F7"),
        (500, c.LIMIT_RELATIVE, False, "51 71 60 35 46 80 12 23 04 81 0B 00 01 F4 00 01 AE 80 D6"),
        (8000, c.LIMIT_ABSOLUTE_PERSISTENT, False, "51 71 60 35 46 80 12 23 04 81 0B 00 1F 40 01 00 F0 06 A4"),
        (1000, c.LIMIT_RELATIVE_PERSISTENT, False, "51 71 60 35 46 80 12 23 04 81 0B 00 03 E8 01 01 40 41 E6"),
        (1000, c.LIMIT_RELATIVE_PERSISTENT, True, "51 71 60 35 46 80 12 23 04 81 0B 00 03 E8 00 03 11 C1 34"),
        (4000, c.LIMIT_ABSOLUTE_PERSISTENT, True, "51 71 60 35 46 80 12 23 04 81 0B 00 0F A0 00 02 97 83 B5"),
        (25, c.LIMIT_RELATIVE, False, "51 71 60 35 46 80 12 23 04 81 0B 00 00 19 00 01 67 11 62"),
    )
    for value10, kind, hms, expected in cases:
        code = c.limit_type_code(kind, hms)
        assert built(c.build_limit, INVERTER, DTU, value10, code) == hexbytes(expected), expected
    f2 = "51 72 81 88 32 80 12 23 04 81 0B 00 0B B8 00 00 61 83 76"
    assert built(c.build_limit, HM600, DTU, 3000, c.LIMIT_ABSOLUTE) == hexbytes(f2)


def test_channel_change_vector_and_bands():
    eu = hm_band.Band("eu", 865)
    assert (eu.channel, eu.boot_channel, eu.budget_ms) == (20, 32, 36000)
    e1 = "56 71 60 35 46 80 12 23 04 02 15 21 14 14 B7"
    assert built(hm_commands.build_channel_change, INVERTER, DTU, eu.code, eu.channel) == hexbytes(e1)
    us = hm_band.Band("us")
    assert (us.frequency_mhz, us.channel, us.boot_channel, us.code, us.budget_ms) == (918, 72, 60, b"\x03\x17\x3c", 0)
    assert hm_band.Band("br").frequency_mhz == 918 and hm_band.Band("eu").frequency_mhz == 865


def test_limits_are_clamped_and_rounded():
    c = hm_commands
    for hms in (False, True):
        code = c.limit_type_code(c.LIMIT_RELATIVE_PERSISTENT, hms)
        over = built(c.build_limit, INVERTER, DTU, 1234, code)
        assert over[12] == 0x03 and over[13] == 0xE8  # 100.0 %
    assert built(c.build_limit, INVERTER, DTU, 70000, c.LIMIT_ABSOLUTE)[12:14] == b"\xff\xff"
    assert built(c.build_limit, INVERTER, DTU, -5, c.LIMIT_ABSOLUTE)[12:14] == b"\x00\x00"
    assert c.round_tenths(66.8) == 668  # OpenDTU truncated this to 667
    assert c.round_tenths(2.45) == 25
    assert c.round_tenths(400) == 4000


def test_power_control_vectors():
    c = hm_commands
    assert built(c.build_power, INVERTER, DTU, c.CTRL_ON) == hexbytes("51 71 60 35 46 80 12 23 04 81 00 00 B0 01 B6")
    assert built(c.build_power, INVERTER, DTU, c.CTRL_OFF) == hexbytes("51 71 60 35 46 80 12 23 04 81 01 00 20 00 26")
    restart = "51 71 60 35 46 80 12 23 04 81 02 00 D0 00 D5"
    assert built(c.build_power, INVERTER, DTU, c.CTRL_RESTART) == hexbytes(restart)


def test_multi_data_vectors():
    c = hm_commands
    head = "15 71 60 35 46 80 12 23 04 80 "
    body = " 00 65 72 06 B8 00 00 00 00 00 00 00 00 "
    cases = (
        (c.DT_REAL_TIME, "0B", "27 3E F9"),
        (c.DT_SYSTEM_CONFIG, "05", "E9 31 36"),
        (c.DT_DEV_INFO_ALL, "01", "2D 34 F3"),
        (c.DT_DEV_INFO_SIMPLE, "00", "EC 34 33"),
        (c.DT_ALARM, "11", "FD 25 22"),
    )
    for data_type, code, tail in cases:
        assert built(c.build_multi, INVERTER, DTU, data_type, TIME_S2000) == hexbytes(head + code + body + tail)
    f1 = "15 72 81 88 32 80 12 23 04 80 0B 00 65 72 06 B8 00 00 00 00 00 00 00 00 27 3E D2"
    assert built(c.build_multi, HM600, DTU, c.DT_REAL_TIME, TIME_S2000) == hexbytes(f1)


def test_request_frame_vector():
    frame = built(hm_commands.build_request_frame, INVERTER, DTU, 2)
    assert frame == hexbytes("15 71 60 35 46 80 12 23 04 82 40")


def test_ack_vector_is_checked_and_accepted():
    ack = hexbytes("D1 71 60 35 46 80 12 23 04 81 00 00 0B 00 14 07 9F")
    assert hm_frames.check(ack, len(ack)) == hm_frames.OK
    assert hm_frames.from_address(ack, INVERTER)
    assert not hm_frames.from_address(ack, DTU)
    assert hm_answers.dev_control_result(ack, len(ack)) == hm_frames.OK
    refused = bytearray(ack)
    refused[11] = 1
    crc = crc16(refused, 10, 14)
    refused[14], refused[15] = crc >> 8, crc & 0xFF
    refused[-1] = crc8(refused, 0, len(refused) - 1)
    assert hm_answers.dev_control_result(refused, len(refused)) == hm_frames.ERR_REJECTED
    corrupt = bytearray(ack)
    corrupt[12] ^= 0x10
    assert hm_frames.check(corrupt, len(corrupt)) == hm_frames.ERR_CRC8
    assert hm_frames.check(ack, 5) == hm_frames.ERR_SHORT


def test_a_two_bit_error_that_passes_the_crc8_is_refused_by_the_crc16():
    ack = hexbytes("D1 71 60 35 46 80 12 23 04 81 00 00 0B 00 14 07 9F")
    refused = bytearray(ack)
    refused[11] = 1  # "rejected", with a good CRC16 and CRC8
    crc = crc16(refused, 10, 14)
    refused[14], refused[15] = crc >> 8, crc & 0xFF
    refused[-1] = crc8(refused, 0, len(refused) - 1)
    corrupted = bytearray(refused)
    corrupted[11] ^= 0x01  # the same bit flipped in two bytes: the CRC8 (an XOR of the bytes) still matches
    corrupted[13] ^= 0x01
    assert hm_frames.check(corrupted, len(corrupted)) == hm_frames.OK
    assert hm_answers.dev_control_result(corrupted, len(corrupted)) == hm_frames.ERR_CRC16
    for length in (0, 14, len(ack) + 1):
        assert hm_answers.dev_control_result(ack, length) == hm_frames.ERR_SHORT


def test_payload_parsers_check_the_crc16_first():
    payload = bytearray(hm_fragments.PAYLOAD_MAX)
    length = collect((0, 1, 2)).assemble(payload)
    data = hm_answers.RealTime()
    payload[20] ^= 0x04
    assert hm_answers.parse_real_time(payload, length, hm_models.FAMILY_HM_2T, data) == hm_frames.ERR_CRC16
    assert data.ac_power_dw == 0  # nothing was read
    info = with_crc16("271C10127101010000")
    info[3] ^= 1
    assert hm_answers.rated_w_of_dev_info(info, 9) == 0
    config = with_crc16("000103E8000003E80000000000000000")
    assert hm_answers.limit_pct10_of_system_config(config, 16) == 1000
    config[3] ^= 1
    assert hm_answers.limit_pct10_of_system_config(config, 16) == hm_frames.ERR_CRC16
    assert hm_answers.limit_pct10_of_system_config(config, 3) == hm_frames.ERR_SHORT
    assert hm_answers.limit_pct10_of_system_config(config, 17) == hm_frames.ERR_CRC16  # no room for a CRC16


def collect(order):
    fragments = hm_fragments.Fragments()
    for i in order:
        frame = hexbytes(RX_HM600[i])
        assert hm_frames.check(frame, len(frame)) == hm_frames.OK
        assert fragments.add(frame, len(frame)) == hm_fragments.ADDED
    return fragments


def test_real_answer_reassembles_in_any_order_and_parses():
    for order in ((0, 1, 2), (2, 0, 1), (1, 2, 0)):
        payload = bytearray(hm_fragments.PAYLOAD_MAX)
        length = collect(order).assemble(payload)
        assert length == 42
        data = hm_answers.RealTime()
        assert hm_answers.parse_real_time(payload, length, hm_models.FAMILY_HM_2T, data) == hm_frames.OK
        assert data.inputs == 2
        assert data.ac_power_dw == 302
        assert data.ac_voltage_dv == 2305
        assert data.frequency_chz == 4998
        assert data.temperature_ddeg == 364
        assert data.ac_current_ca == 13
        assert data.power_factor_milli == 1000
        assert data.events == 14
        assert list(data.dc_voltage_dv[:2]) == [335, 336]
        assert list(data.dc_current_ca[:2]) == [47, 47]
        assert list(data.dc_power_dw[:2]) == [157, 159]
        assert data.dc_power_total_dw() == 316
        assert list(data.yield_total_wh[:2]) == [146420, 144646]
        assert list(data.yield_day_wh[:2]) == [2485, 2480]


def test_missing_fragments_are_named():
    assert collect((0, 1)).missing() == 3  # last one unseen: ask for highest + 1
    assert collect((0, 2)).missing() == 2
    assert collect((1, 2)).missing() == 1
    assert collect((0, 1, 2)).missing() == 0
    assert hm_fragments.Fragments().missing() == 1
    payload = bytearray(hm_fragments.PAYLOAD_MAX)
    assert collect((0, 2)).assemble(payload) == hm_frames.ERR_MISSING


def test_duplicates_and_bad_indices():
    fragments = collect((0,))
    frame = hexbytes(RX_HM600[0])
    assert fragments.add(frame, len(frame)) == hm_fragments.DUPLICATE
    zero = bytearray(frame)
    zero[9] = 0
    assert fragments.add(zero, len(zero)) == hm_fragments.BAD_INDEX
    assert fragments.count == 1
    fragments.reset()
    assert fragments.count == 0 and fragments.missing() == 1


def test_bad_crc16_is_reported():
    fragments = hm_fragments.Fragments()
    for i, text in enumerate(RX_HM600):
        frame = bytearray(hexbytes(text))
        if i == 1:
            frame[12] ^= 1  # a bit flip the CRC8 was recomputed over
            frame[-1] = crc8(frame, 0, len(frame) - 1)
        fragments.add(frame, len(frame))
    assert fragments.assemble(bytearray(hm_fragments.PAYLOAD_MAX)) == hm_frames.ERR_CRC16


def test_truncated_or_unknown_layouts_are_refused():
    payload = bytearray(hm_fragments.PAYLOAD_MAX)
    length = collect((0, 1, 2)).assemble(payload)
    data = hm_answers.RealTime()
    assert hm_answers.parse_real_time(payload, length, hm_models.FAMILY_HM_4T, data) == hm_frames.ERR_LENGTH
    assert hm_answers.parse_real_time(payload, length, hm_models.FAMILY_HMT_6T, data) == hm_frames.ERR_LENGTH
    assert hm_answers.parse_real_time(payload, length, hm_models.FAMILY_UNKNOWN, data) == hm_frames.ERR_UNKNOWN


def test_rated_power_from_dev_info():
    payload = with_crc16("271C10127101010000")  # OpenDTU's DevInfo example, an HMS-2000
    assert hm_answers.rated_w_of_dev_info(payload, 9) == 2000
    for part, rated_w in (("10111001", 600), ("10113005", 800), ("10123000", 1500), ("10101015", 210),
                           ("10101016", 300), ("10333100", 2250)):
        payload = with_crc16("0000" + part)
        assert hm_answers.rated_w_of_dev_info(payload, 6) == rated_w, part
    assert hm_answers.rated_w_of_dev_info(with_crc16("000099999999"), 6) == 0


def test_system_config_limit():
    payload = hexbytes("000103E8000003E80000000000003CF8")
    assert hm_answers.limit_pct10_of_system_config(payload, 14) == 1000


class Path:
    """The device's send and receive path with its buffers, as the link holds them."""

    def __init__(self):
        self.tx = bytearray(hm_frames.MAX_FRAME_LEN)
        self.frames = [hexbytes(text) for text in RX_HM600]
        self.fragments = hm_fragments.Fragments()
        self.payload = bytearray(hm_fragments.PAYLOAD_MAX)
        self.data = hm_answers.RealTime()
        self.code = hm_commands.limit_type_code(hm_commands.LIMIT_ABSOLUTE, False)

    def send(self):
        c = hm_commands
        c.build_limit(self.tx, INVERTER, DTU, 4000, self.code)
        c.build_power(self.tx, INVERTER, DTU, c.CTRL_OFF)
        c.build_request_frame(self.tx, INVERTER, DTU, 2)
        c.build_multi(self.tx, INVERTER, DTU, c.DT_REAL_TIME, TIME_S2000)

    def receive(self):
        self.fragments.reset()
        for i in range(3):
            frame = self.frames[i]
            hm_frames.check(frame, len(frame))
            hm_frames.from_address(frame, HM600)
            self.fragments.add(frame, len(frame))
        self.fragments.missing()
        length = self.fragments.assemble(self.payload)
        hm_answers.parse_real_time(self.payload, length, hm_models.FAMILY_HM_2T, self.data)


@micropython_only
def test_send_and_receive_path_allocates_nothing():
    path = Path()
    allocs.assert_free(path.send, 200)
    allocs.assert_free(path.receive, 200)
    assert path.data.ac_power_dw == 302
    assert path.tx[0] == 0x15
