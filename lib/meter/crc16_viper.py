"""The viper inner loop of CRC-16/MODBUS, for MicroPython only (see crc16.py).

Kept apart because a module with viper code is compiled for one CPU
(-march=xtensawin on the ESP32) and cannot load anywhere else. Callers use
`crc16.crc16`, which passes the shared table. Viper ints are machine words,
so the CRC is masked back into 16 bits after every shift. Allocates nothing.
"""

from compat import micropython


@micropython.viper
def crc16_viper(buf, start: int, end: int, table) -> int:
    data = ptr8(buf)  # noqa: F821 - viper built-in
    lookup = ptr16(table)  # noqa: F821 - viper built-in
    crc = 0xFFFF
    index = start
    while index < end:
        crc = ((crc >> 8) ^ lookup[(crc ^ data[index]) & 0xFF]) & 0xFFFF
        index += 1
    return crc
