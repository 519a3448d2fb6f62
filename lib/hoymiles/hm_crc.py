"""The two checksums of the Hoymiles radio protocol.

CRC8 (poly 0x01, init 0x00, MSB first, no reflection, no final XOR) ends every
radio frame. CRC16 is CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF), sent
high byte first; it covers a request's payload and a whole reassembled answer,
so `crc16` can be chained across fragments by passing the previous result.

Both run from 256-entry tables, so a call is one table lookup per byte,
compiled to native code: small-int arithmetic over a slice of a buffer given
by start/end indices, no allocation. The CRC-16 table is the Modbus one
(lib/meter/crc16.py): one copy in RAM; the CRC8 table is 256 bytes.
"""

from compat import micropython
from crc16 import TABLE as _CRC16

CRC16_INIT = 0xFFFF


def _crc8_table():
    table = bytearray(256)
    for value in range(256):
        crc = value
        for _ in range(8):
            crc = ((crc << 1) ^ (1 if crc & 0x80 else 0)) & 0xFF
        table[value] = crc
    return table


_CRC8 = _crc8_table()


# Native code: about twice as fast as bytecode, and its frame lives on the C stack
# (a bytecode frame over about 11 slots of locals + stack is heap-allocated on every
# call). This is why the CRCs sit alone in this module: its .mpy is xtensawin-only.


@micropython.native
def crc8(buf, start, end):
    """CRC8 of buf[start:end] (the bytes of a frame before its last byte)."""
    crc = 0
    for i in range(start, end):
        crc = _CRC8[crc ^ buf[i]]
    return crc


@micropython.native
def crc16(buf, start, end, crc=CRC16_INIT):
    """CRC-16/MODBUS of buf[start:end], continuing from `crc`."""
    for i in range(start, end):
        crc = (crc >> 8) ^ _CRC16[(crc ^ buf[i]) & 0xFF]
    return crc
