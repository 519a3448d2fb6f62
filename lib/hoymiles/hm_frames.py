"""Hoymiles radio frames: addresses from serial numbers, header, checksums.

Every frame on the air (at most 32 bytes) is

    byte 0     main command (MID); an answer is the request's MID | 0x80
    bytes 1-4  target address: the low 32 bits of the target's serial, MSB first
    bytes 5-8  source address (the DTU's, in requests)
    byte 9     frame index: 0x80/0x81 in requests; 1, 2, ... in answers, the
               last fragment with bit 7 set (0x83 = third and last)
    bytes 10.. payload; requests that carry one end it with a CRC16 (high byte first)
    last byte  CRC8 over everything before it

A serial number is the 12 hex digits printed on the device, held as 6 bytes;
the nRF24 register address of a device (LSByte first, as the chip takes it) is
0x01 followed by its 4-byte frame address.

Timing and allocation: `write_header`, `finish` and `check` are short loops
over caller-owned buffers and allocate nothing; the serial helpers run once at
configuration time and do allocate.
"""

from compat import const
from hm_crc import crc8, crc16

MID_MULTI_DATA = const(0x15)
MID_DEV_CONTROL = const(0x51)
MID_CHANNEL_CHANGE = const(0x56)
MID_ANSWER = const(0x80)
INDEX_LAST = const(0x80)
INDEX_ALL = const(0x80)
INDEX_SINGLE = const(0x81)
HEADER_LEN = const(10)
MAX_FRAME_LEN = const(32)

OK = const(0)
ERR_SHORT = const(-1)
ERR_CRC8 = const(-2)
ERR_CRC16 = const(-3)
ERR_MISSING = const(-4)
ERR_LENGTH = const(-5)
ERR_REJECTED = const(-6)
ERR_UNKNOWN = const(-7)


def serial_bytes(text):
    """The 6 bytes of a serial number given as up to 12 hex digits; ValueError if it is not one."""
    text = text.strip()
    if not 1 <= len(text) <= 12:
        raise ValueError("a serial number has at most 12 hex digits: %r" % text)
    try:
        value = int(text, 16)
    except ValueError:
        raise ValueError("a serial number is hexadecimal: %r" % text) from None
    return bytes((value >> shift) & 0xFF for shift in (40, 32, 24, 16, 8, 0))


def frame_address(serial):
    """The 4-byte address of a device in frames (bytes 1-4 or 5-8)."""
    return bytes(serial[2:6])


def radio_address(serial):
    """The 5-byte nRF24 address in register order (LSByte first): 0x01, then the frame address."""
    return b"\x01" + frame_address(serial)


def prefix(serial):
    """The model prefix: the first 4 hex digits of the serial (e.g. 0x1141)."""
    return (serial[0] << 8) | serial[1]


def write_header(buf, mid, target, source, index):
    """Write bytes 0-9 of a frame; `target` and `source` are 4-byte frame addresses."""
    buf[0] = mid
    for i in range(4):
        buf[1 + i] = target[i]
        buf[5 + i] = source[i]
    buf[9] = index


def finish(buf, end, with_crc16):
    """Append the CRC16 of bytes 10..end (if asked) and the CRC8; return the frame length."""
    if with_crc16:
        crc = crc16(buf, HEADER_LEN, end)
        buf[end] = crc >> 8
        buf[end + 1] = crc & 0xFF
        end += 2
    buf[end] = crc8(buf, 0, end)
    return end + 1


def check(buf, length):
    """OK if `length` bytes of `buf` make a frame with a good CRC8, else an error code."""
    if length < HEADER_LEN + 1 or length > MAX_FRAME_LEN:
        return ERR_SHORT
    if crc8(buf, 0, length - 1) != buf[length - 1]:
        return ERR_CRC8
    return OK


def from_address(buf, address):
    """True if the frame's bytes 1-4 (the answering device) equal the 4-byte `address`."""
    return buf[1] == address[0] and buf[2] == address[1] and buf[3] == address[2] and buf[4] == address[3]


def to_address(buf, address):
    """True if the frame's bytes 5-8 equal `address`: HMS/HMT answers carry the DTU's address there,
    and the CMT2300A does no address filtering of its own."""
    return buf[5] == address[0] and buf[6] == address[1] and buf[7] == address[2] and buf[8] == address[3]
