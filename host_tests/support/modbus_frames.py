"""Build Modbus-RTU response frames for tests and benchmarks (portable, allocates freely).

    read_response(1, 3, floats(2850.0, 1048.0))  ->  01 03 08 45 32 20 00 ... CRC
"""

import struct

from crc16 import crc16_pure


def frame(*parts):
    """Concatenate byte strings / ints and append the CRC (low byte first)."""
    body = bytearray()
    for part in parts:
        if isinstance(part, int):
            body.append(part)
        else:
            body.extend(part)
    crc = crc16_pure(body, 0, len(body))
    body.append(crc & 0xFF)
    body.append(crc >> 8)
    return bytes(body)


def floats(*values):
    """Big-endian float32 register pairs ("ABCD")."""
    out = bytearray()
    for value in values:
        out.extend(struct.pack(">f", value))
    return bytes(out)


def words(*values):
    out = bytearray()
    for value in values:
        out.extend(struct.pack(">H", value & 0xFFFF))
    return bytes(out)


def read_response(address, function, data):
    return frame(address, function, len(data), data)


def exception_response(address, function, code):
    return frame(address, function | 0x80, code)
