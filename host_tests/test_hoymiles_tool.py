"""tools/hoymiles.py as a user runs it, and the frame layer under the ESP32's integer limits."""

import json
import subprocess
import sys
from pathlib import Path

import ranges
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "hoymiles.py"
INVERTER = "116171603546"
DTU = "199980122304"
RX_HM600 = [
    "95 82 97 74 01 82 97 74 01 01 00 01 01 4F 00 2F 00 9D 01 50 00 2F 00 9F 00 02 8A",
    "95 82 97 74 01 82 97 74 01 02 3B F4 00 02 35 06 09 B5 09 B0 09 01 13 86 01 2E DE",
    "95 82 97 74 01 82 97 74 01 83 00 00 00 0D 03 E8 01 6C 00 0E DD 00 4E",
]


def run(*args):
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=30)


def test_frame_limit_watts_and_percent():
    done = run("frame", "limit", "--inverter", INVERTER, "--dtu", DTU, "--watts", "400")
    assert done.returncode == 0
    assert done.stdout.strip() == "51 71 60 35 46 80 12 23 04 81 0B 00 0F A0 00 00 56 02 F7"
    done = run("frame", "limit", "--inverter", INVERTER, "--dtu", DTU, "--percent", "50")
    assert done.stdout.strip() == "51 71 60 35 46 80 12 23 04 81 0B 00 01 F4 00 01 AE 80 D6"


def test_frame_limit_persistent_codes_per_family():
    base = ("frame", "limit", "--inverter", INVERTER, "--dtu", DTU, "--persistent")
    done = run(*base, "--watts", "800")
    assert done.stdout.strip() == "51 71 60 35 46 80 12 23 04 81 0B 00 1F 40 01 00 F0 06 A4"
    done = run(*base, "--percent", "100", "--family", "hms")
    assert done.stdout.strip() == "51 71 60 35 46 80 12 23 04 81 0B 00 03 E8 00 03 11 C1 34"


def test_frame_limit_rounds_instead_of_truncating():
    done = run("frame", "limit", "--inverter", INVERTER, "--dtu", DTU, "--percent", "66.8")
    assert done.stdout.split()[12:14] == ["02", "9C"]  # 668, where OpenDTU sent 667


def test_frame_realtime():
    done = run("frame", "realtime", "--inverter", "114172818832", "--dtu", DTU, "--time", str(0x657206B8))
    assert done.returncode == 0
    assert done.stdout.strip() == "15 72 81 88 32 80 12 23 04 80 0B 00 65 72 06 B8 00 00 00 00 00 00 00 00 27 3E D2"


def test_parse_any_order():
    done = run("parse", "--model", "HM-600", RX_HM600[2], RX_HM600[0], RX_HM600[1])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "ac_power_w": 30.2,
        "dc_power_w": [15.7, 15.9],
        "ac_voltage_v": 230.5,
        "frequency_hz": 49.98,
        "temperature_c": 36.4,
        "yield_total_kwh": [146.42, 144.646],
        "yield_day_wh": [2485, 2480],
    }


def test_frame_limit_family_from_the_serial():
    base = ("frame", "limit", "--dtu", DTU, "--watts", "400", "--persistent")
    hms = run(*base, "--inverter", "114471603546").stdout.split()
    assert hms[1:5] == ["71", "60", "35", "46"] and hms[14:] == ["00", "02", "97", "83", "B5"]  # A6's codes, CRCs
    assert run(*base, "--inverter", "138271603546").stdout.split()[14:16] == ["01", "00"]  # HMT: HM codes
    assert run(*base, "--inverter", "114471603546", "--family", "hm").stdout.split()[14:16] == ["01", "00"]
    assert_clean_error(run(*base, "--inverter", "999971603546"), "give --family")


def test_frame_channel_change():
    e1 = "56 71 60 35 46 80 12 23 04 02 15 21 14 14 B7"
    base = ("frame", "channel-change", "--dtu", DTU)
    assert run(*base, "--inverter", INVERTER, "--mhz", "865", "--family", "hms").stdout.strip() == e1
    assert run(*base, "--inverter", "114471603546", "--mhz", "865").stdout.strip() == e1
    us = run(*base, "--inverter", "114671603546", "--mhz", "918.25", "--region", "us").stdout.split()
    assert us[9:13] == ["03", "17", "3C", "49"]  # 900 MHz + 73 * 0.25 MHz
    assert_clean_error(run(*base, "--inverter", INVERTER, "--mhz", "865"), "is an HM")
    assert_clean_error(run(*base, "--inverter", "114471603546", "--mhz", "871"), "outside the legal 863..870")
    assert_clean_error(run(*base, "--inverter", "114471603546", "--mhz", "865.1"), "no channel")


def hms_answer(serial, dtu_address):
    import cmt2300a_chip
    import nrf24_chip

    inverter = cmt2300a_chip.HmsInverter(serial)
    inverter.air = cmt2300a_chip.Air(nrf24_chip.Clock())
    inverter._dtu = dtu_address
    payload = inverter._real_time()
    crc = nrf24_chip.crc16(payload)
    data = bytes(payload) + bytes((crc >> 8, crc & 0xFF))
    count = (len(data) + 15) // 16
    return [
        inverter._frame(0x95, k + 1 if k + 1 < count else 0x80 | (k + 1), data[16 * k : 16 * (k + 1)]).hex()
        for k in range(count)
    ]


def test_parse_hms_and_hmt_answers_with_the_dtu_check():
    frames = hms_answer("114412345678", bytes.fromhex("80122304"))
    done = run("parse", "--model", "HMS-800W-2T", "--dtu", DTU, *reversed(frames))
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout)
    assert values["ac_power_w"] == 600.0 and values["dc_power_w"] == [315.0, 315.0]
    assert values["ac_voltage_v"] == 230.5 and values["frequency_hz"] == 49.98
    assert set(values) == set(json.loads(run("parse", "--model", "HM-600", *RX_HM600).stdout))
    assert_clean_error(run("parse", "--model", "HMS-800W-2T", "--dtu", "199980999999", *frames), "not to --dtu")
    frames = hms_answer("138212345679", bytes.fromhex("80122304"))
    values = json.loads(run("parse", "--model", "HMT-2250-6T", "--dtu", DTU, *frames).stdout)
    assert len(values["dc_power_w"]) == 6 and values["phase_voltage_v"] == [230.1, 230.2, 230.3]


def assert_clean_error(done, words):
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert words in done.stderr, done.stderr


def test_parse_errors_are_messages():
    assert_clean_error(run("parse", "--model", "HM-600", RX_HM600[0], RX_HM600[2]), "missing fragment 2")
    assert_clean_error(run("parse", "--model", "HM-600", RX_HM600[0], RX_HM600[1]), "missing fragment 3")
    broken = RX_HM600[1][:-2] + "DF"
    assert_clean_error(run("parse", "--model", "HM-600", RX_HM600[0], broken, RX_HM600[2]), "frame 2: bad CRC8")
    assert_clean_error(run("parse", "--model", "HM-600", "zz"), "not a hex frame")
    assert_clean_error(run("parse", "--model", "HM-1500", *RX_HM600), "shorter than the model")
    assert_clean_error(run("parse", "--model", "HMX-1", *RX_HM600), "unknown model")


def test_frame_errors_are_messages():
    assert_clean_error(run("frame", "limit", "--inverter", "XYZ", "--dtu", DTU, "--watts", "1"), "hexadecimal")
    assert_clean_error(run("frame", "limit", "--inverter", INVERTER, "--dtu", DTU, "--percent", "101"), "range")
    assert_clean_error(run("frame", "realtime", "--inverter", INVERTER, "--dtu", DTU, "--time", "5"), "--time")


# The device modules, with every intermediate checked against the ESP32's small-int range.
answers = ranges.load("hm_answers", "hm_crc", "hm_frames", "hm_models")
fragments_mod = ranges.load("hm_fragments", "hm_crc", "hm_frames")
commands = ranges.load("hm_commands", "hm_crc", "hm_frames")
frames = ranges.load("hm_frames", "hm_crc")
crc_mod = ranges.load("hm_crc")
FAMILIES = tuple(range(1, 10))  # HM-1T ... HMS-1T v2


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=100, max_size=100), st.sampled_from(FAMILIES))
def test_real_time_parse_stays_in_range(payload, family):
    data = answers.RealTime()
    crc = crc_mod.crc16(payload, 0, 100)  # the parser checks the payload's CRC16 first
    assert answers.parse_real_time(bytearray(payload + bytes((crc >> 8, crc & 0xFF))), 100, family, data) == 0
    assert 0 <= data.ac_power_dw <= 0xFFFF
    assert -0x8000 <= data.temperature_ddeg < 0x8000
    for i in range(data.inputs):
        assert 0 <= data.yield_total_wh[i] < 1 << 30


@settings(max_examples=300, deadline=None)
@given(
    st.binary(min_size=4, max_size=4),
    st.binary(min_size=4, max_size=4),
    st.integers(-100, 200000),
    st.sampled_from((0, 1, 0x100, 0x101, 2, 3)),
    st.integers(0, (1 << 30) - 1),
)
def test_request_builders_stay_in_range(inverter, dtu, value10, code, time_s2000):
    buf = bytearray(32)
    assert commands.build_limit(buf, inverter, dtu, value10, code) == 19
    assert frames.check(buf, 19) == 0
    assert commands.build_multi(buf, inverter, dtu, 0x0B, time_s2000) == 27
    unix = int.from_bytes(buf[12:16], "big")
    assert unix == time_s2000 + 946684800
    assert commands.build_power(buf, inverter, dtu, 1) == 15
    assert commands.build_channel_change(buf, inverter, dtu, b"\x03\x17\x3c", value10 & 0xFF) == 15
    assert frames.check(buf, 15) == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=40), max_size=14))
def test_reassembly_of_arbitrary_frames_stays_in_range(frames):
    collected = fragments_mod.Fragments()
    for frame in frames:
        collected.add(bytearray(frame), len(frame))
    collected.missing()
    assert collected.assemble(bytearray(fragments_mod.PAYLOAD_MAX)) <= fragments_mod.PAYLOAD_MAX
