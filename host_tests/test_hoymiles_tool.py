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
FAMILIES = (1, 2, 3)  # HM-1T, HM-2T, HM-4T


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=64, max_size=64), st.sampled_from(FAMILIES))
def test_real_time_parse_stays_in_range(payload, family):
    data = answers.RealTime()
    crc = crc_mod.crc16(payload, 0, 64)  # the parser checks the payload's CRC16 first
    assert answers.parse_real_time(bytearray(payload + bytes((crc >> 8, crc & 0xFF))), 64, family, data) == 0
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


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=40), max_size=14))
def test_reassembly_of_arbitrary_frames_stays_in_range(frames):
    collected = fragments_mod.Fragments()
    for frame in frames:
        collected.add(bytearray(frame), len(frame))
    collected.missing()
    assert collected.assemble(bytearray(fragments_mod.PAYLOAD_MAX)) <= fragments_mod.PAYLOAD_MAX
