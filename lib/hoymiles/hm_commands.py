"""The requests the gateway sends to a Hoymiles inverter (what we ask).

Each builder writes one complete frame into a caller-owned buffer of at least
32 bytes and returns its length. Limit values are integers in the protocol's
own unit, tenths: deci-watts for absolute limits (400.0 W = 4000) and tenths of
a percent for relative ones (50.0 % = 500); whoever converts from a float
rounds (`round_tenths`), because the inverter takes the value as it comes and
OpenDTU's truncation is a known bug.

The request time is the device clock's UTC seconds since 2000-01-01 (the
MicroPython embedded epoch, a small int until 2034); it goes out as Unix time,
added in 16-bit halves so no intermediate leaves the ESP32's small-int range.

Timing and allocation: every builder is a header copy plus one CRC pass,
integers only, no allocation (functions keep few locals: see hm_crc).
"""

from compat import const
from hm_frames import (
    INDEX_ALL,
    INDEX_LAST,
    INDEX_SINGLE,
    MID_CHANNEL_CHANGE,
    MID_DEV_CONTROL,
    MID_MULTI_DATA,
    finish,
    write_header,
)

# DevControl sub-commands (byte 10 of a 0x51 frame).
CTRL_ON = const(0x00)
CTRL_OFF = const(0x01)
CTRL_RESTART = const(0x02)
_CTRL_LIMIT = const(0x0B)

# MultiData data types (byte 10 of a 0x15 frame).
DT_DEV_INFO_SIMPLE = const(0x00)
DT_DEV_INFO_ALL = const(0x01)
DT_SYSTEM_CONFIG = const(0x05)
DT_REAL_TIME = const(0x0B)
DT_ALARM = const(0x11)

# Limit kinds, independent of the model family.
LIMIT_ABSOLUTE = const(0)  # deci-watts, not kept over a restart or night
LIMIT_RELATIVE = const(1)  # tenths of a percent, not kept
LIMIT_ABSOLUTE_PERSISTENT = const(2)  # written to the inverter's non-volatile memory
LIMIT_RELATIVE_PERSISTENT = const(3)

# The type code (bytes 14-15) per kind: HM and HMT, then HMS (OpenDTU 2025-08).
_LIMIT_CODES_HM = (0x0000, 0x0001, 0x0100, 0x0101)
_LIMIT_CODES_HMS = (0x0000, 0x0001, 0x0002, 0x0003)

_RELATIVE_MAX_PCT10 = const(1000)
_UNIX_2000_HI = const(0x386D)  # 946684800 = 0x386D4380: Unix time of 2000-01-01
_UNIX_2000_LO = const(0x4380)


def round_tenths(value):
    """A float or int value in W or % as tenths, rounded half away from zero (for tools and config)."""
    tenths = abs(value) * 10
    rounded = int(tenths + 0.5)
    return rounded if value >= 0 else -rounded


def limit_type_code(kind, hms):
    return (_LIMIT_CODES_HMS if hms else _LIMIT_CODES_HM)[kind]


def build_limit(buf, inverter, dtu, value10, code):
    """ActivePowerControl: 19 bytes. `code` from `limit_type_code`; `value10` is clamped
    to 0..6553.5 W, or 0..100.0 % for relative codes (bit 0 set in both families)."""
    if value10 < 0:
        value10 = 0
    if code & 1:
        if value10 > _RELATIVE_MAX_PCT10:
            value10 = _RELATIVE_MAX_PCT10
    elif value10 > 0xFFFF:
        value10 = 0xFFFF
    write_header(buf, MID_DEV_CONTROL, inverter, dtu, INDEX_SINGLE)
    buf[10] = _CTRL_LIMIT
    buf[11] = 0
    buf[12] = value10 >> 8
    buf[13] = value10 & 0xFF
    buf[14] = code >> 8
    buf[15] = code & 0xFF
    return finish(buf, 16, True)


def build_power(buf, inverter, dtu, sub):
    """PowerControl (CTRL_ON, CTRL_OFF, CTRL_RESTART): 15 bytes."""
    write_header(buf, MID_DEV_CONTROL, inverter, dtu, INDEX_SINGLE)
    buf[10] = sub
    buf[11] = 0
    return finish(buf, 12, True)


def build_multi(buf, inverter, dtu, data_type, time_s2000):
    """A MultiData request (RealTimeRunData, DevInfo, SystemConfigPara; alarm id 0): 27 bytes."""
    write_header(buf, MID_MULTI_DATA, inverter, dtu, INDEX_ALL)
    buf[10] = data_type
    _write_time_and_zeros(buf, time_s2000)
    return finish(buf, 24, True)


def _write_time_and_zeros(buf, time_s2000):
    for i in range(11, 24):
        buf[i] = 0
    lo = (time_s2000 & 0xFFFF) + _UNIX_2000_LO
    hi = (time_s2000 >> 16) + _UNIX_2000_HI + (lo >> 16)
    buf[12] = (hi >> 8) & 0xFF
    buf[13] = hi & 0xFF
    buf[14] = (lo >> 8) & 0xFF
    buf[15] = lo & 0xFF


def build_request_frame(buf, inverter, dtu, index):
    """RequestFrame: ask again for fragment `index` (1-based) of the last answer: 11 bytes."""
    write_header(buf, MID_MULTI_DATA, inverter, dtu, INDEX_LAST | index)
    return finish(buf, 10, False)


def build_channel_change(buf, inverter, dtu, band_code, channel):
    """ChannelChange (HMS/HMT): move the inverter to `channel` of its band; 15 bytes, no CRC16.

    `band_code` is the 3-byte field of bytes 9-11 (`02 15 21` in the 860 MHz band,
    `03 17 3C` in the 900 MHz band, hm_band.Band.code). Sent on the boot frequency;
    the inverter does not answer.
    """
    write_header(buf, MID_CHANNEL_CHANGE, inverter, dtu, 0)
    buf[9] = band_code[0]
    buf[10] = band_code[1]
    buf[11] = band_code[2]
    buf[12] = channel
    buf[13] = 0x14
    return finish(buf, 14, False)
