"""CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), table-driven.

`crc16(buf, start, end)` is the CRC of `buf[start:end]`; Modbus sends it low byte first.
On MicroPython the per-byte loop runs in the viper module `crc16_viper`
(native code lives in its own module so that only it is compiled for the
ESP32's Xtensa core); where viper is missing (CPython) the pure loop runs.
Both use the same 256-entry table of 16-bit values, built once at import; the
Hoymiles CRC-16 (lib/hoymiles/hm_crc.py) uses it too, so RAM holds one copy.

Timing and allocation: no allocation per call, small ints only (< 2**16).
On the unix port the viper loop is ~20x faster per byte than the pure one
(see bench/bench_modbus.py).
"""

import sys
from array import array

from compat import const

_POLY = const(0xA001)


def _table():
    table = array("H", bytes(512))
    for index in range(256):
        crc = index
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table[index] = crc
    return table


TABLE = _table()


def crc16_pure(buf, start, end):
    """CRC of buf[start:end] in plain Python."""
    table = TABLE
    crc = 0xFFFF
    for index in range(start, end):
        crc = (crc >> 8) ^ table[(crc ^ buf[index]) & 0xFF]
    return crc


crc16_fast = None
if sys.implementation.name == "micropython":
    try:
        from crc16_viper import crc16_viper as crc16_fast
    except (ImportError, SyntaxError, ValueError):  # no viper emitter on this build
        crc16_fast = None

if crc16_fast is None:
    crc16 = crc16_pure
else:

    def crc16(buf, start, end):
        """CRC of buf[start:end], through the viper loop."""
        return crc16_fast(buf, start, end, TABLE)
