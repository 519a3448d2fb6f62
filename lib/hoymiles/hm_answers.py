"""Parsers for the inverter's answers (what it tells us).

`RealTime` holds one inverter's live data in preallocated arrays, updated in
place from a reassembled RealTimeRunData payload by `parse_real_time` (per
phase too, for the three-phase HMT). The
DevControl acknowledgement, DevInfoSimple (rated power) and SystemConfigPara
(the applied limit, in tenths of a percent) are one function each.

Every parser checks the answer's CRC16 before it reads a field: a payload
(as `Fragments.assemble` leaves it: `length` bytes, then their CRC16, high
byte first) and the DevControl frame (its CRC16 before the CRC8). A CRC8
passes some two-bit errors (the same bit flipped in two bytes), so a
corrupted "rejected" must not read as "accepted" on the CRC8 alone.

Units are the protocol's fixed-point ones (see hm_models). Unsigned fields are
16 bits; the 32-bit total yield is combined from two 16-bit halves and capped
at 2**30 - 1 Wh so it stays a small int on the ESP32.

Timing and allocation: every function indexes the buffers it is given and
writes into preallocated arrays; nothing allocates.
"""

from compat import build, const
from hm_crc import crc16
from hm_frames import ERR_CRC16, ERR_LENGTH, ERR_REJECTED, ERR_SHORT, ERR_UNKNOWN, HEADER_LEN, OK
from hm_models import (
    AC_CURRENT,
    AC_EVENTS,
    AC_FIELDS,
    AC_FREQUENCY,
    AC_POWER,
    AC_POWER_FACTOR,
    AC_REACTIVE,
    AC_TEMPERATURE,
    AC_VOLTAGE,
    IN_CURRENT,
    IN_FIELDS,
    IN_POWER,
    IN_VOLTAGE,
    IN_YIELD_DAY,
    IN_YIELD_TOTAL,
    layout,
    phase_layout,
    rated_w_of_part,
)

_YIELD_HI_MAX = const(0x3FFF)


def _u16(buf, offset):
    return (buf[offset] << 8) | buf[offset + 1]


def _s16(buf, offset):
    value = (buf[offset] << 8) | buf[offset + 1]
    return value - 0x10000 if value & 0x8000 else value


def _u32_capped(buf, offset):
    hi = _u16(buf, offset)
    if hi > _YIELD_HI_MAX:
        return (_YIELD_HI_MAX << 16) | 0xFFFF
    return (hi << 16) | _u16(buf, offset + 2)


def intact(buf, start, end):
    """True if buf[start:end] is followed by its CRC16 (high byte first) inside `buf`."""
    if start < 0 or end < start or end + 2 > len(buf):
        return False
    return crc16(buf, start, end) == _u16(buf, end)


class RealTime:
    """The last RealTimeRunData of one inverter, in fixed-point units."""

    def __init__(self, *args, **options):
        build("hm_link_init", "hm_answers", self, args, options)  # boot only: hm_link_init.py

    def dc_power_total_dw(self):
        total = 0
        for i in range(self.inputs):
            total += self.dc_power_dw[i]
        return total


def parse_real_time(payload, length, family, out):
    """Fill `out` (a RealTime) from a reassembled payload; OK, ERR_CRC16, ERR_UNKNOWN or ERR_LENGTH."""
    if not intact(payload, 0, length):
        return ERR_CRC16
    table = layout(family)
    if table is None:
        return ERR_UNKNOWN
    if length < table[0]:
        return ERR_LENGTH  # a valid but truncated answer (seen at low light)
    out.inputs = (len(table) - 1 - AC_FIELDS) // IN_FIELDS
    _parse_inputs(payload, table, out)
    _parse_ac(payload, table, 1 + out.inputs * IN_FIELDS, out)
    _parse_phases(payload, phase_layout(family), out)
    return OK


# Each helper keeps its bytecode frame small enough to live on the C stack (see hm_crc).
def _parse_inputs(payload, table, out):
    for i in range(out.inputs):
        _parse_input(payload, table, i, out)


def _parse_input(payload, table, i, out):
    base = 1 + i * IN_FIELDS
    out.dc_voltage_dv[i] = _u16(payload, table[base + IN_VOLTAGE])
    out.dc_current_ca[i] = _u16(payload, table[base + IN_CURRENT])
    out.dc_power_dw[i] = _u16(payload, table[base + IN_POWER])
    out.yield_total_wh[i] = _u32_capped(payload, table[base + IN_YIELD_TOTAL])
    out.yield_day_wh[i] = _u16(payload, table[base + IN_YIELD_DAY])


def _parse_ac(payload, table, ac, out):
    out.ac_voltage_dv = _u16(payload, table[ac + AC_VOLTAGE])
    out.frequency_chz = _u16(payload, table[ac + AC_FREQUENCY])
    out.ac_power_dw = _u16(payload, table[ac + AC_POWER])
    out.reactive_dvar = _s16(payload, table[ac + AC_REACTIVE])
    out.ac_current_ca = _u16(payload, table[ac + AC_CURRENT])
    out.power_factor_milli = _u16(payload, table[ac + AC_POWER_FACTOR])
    out.temperature_ddeg = _s16(payload, table[ac + AC_TEMPERATURE])
    out.events = _u16(payload, table[ac + AC_EVENTS])


def _parse_phases(payload, phases, out):
    out.phase_voltage_dv[0] = out.ac_voltage_dv
    out.phase_current_ca[0] = out.ac_current_ca
    for i in range(2):
        out.phase_voltage_dv[1 + i] = _u16(payload, phases[i]) if phases is not None else 0
        out.phase_current_ca[1 + i] = _u16(payload, phases[2 + i]) if phases is not None else 0


def dev_control_result(frame, length):
    """OK if a CRC8-checked 0xD1 frame accepts the command (bytes 10-11 = 00 00), else ERR_REJECTED,
    ERR_CRC16 (its CRC16, bytes length-3 and length-2, does not match bytes 10 .. length-4) or ERR_SHORT.

    Only `00 00` has been seen in captures; like ahoy, anything else counts as a refusal.
    """
    if length < HEADER_LEN + 5 or length > len(frame):
        return ERR_SHORT
    if not intact(frame, HEADER_LEN, length - 3):
        return ERR_CRC16
    if frame[10] or frame[11]:
        return ERR_REJECTED
    return OK


def rated_w_of_dev_info(payload, length):
    """Rated power in W from a DevInfoSimple payload (hardware part number at 2..5), 0 if unknown or not intact."""
    if length < 6 or not intact(payload, 0, length):
        return 0
    return rated_w_of_part(payload, 2)


def limit_pct10_of_system_config(payload, length):
    """The applied active power limit in tenths of a percent from SystemConfigPara; ERR_SHORT (-1) if too
    short, ERR_CRC16 if not intact."""
    if length < 4:
        return ERR_SHORT
    if not intact(payload, 0, length):
        return ERR_CRC16
    return _u16(payload, 2)
