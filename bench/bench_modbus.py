"""Cost of one meter poll on the unix port next to its wire time, CRC per byte, allocations per poll.

One DTSU666 power poll = FC03 0x2012 x8 (Pt, Pa, Pb, Pc): request 8 bytes, response 21 bytes, i.e.
29 characters = 30.2 ms at 9600 baud 8N1. The poll runs through a replaying fake UART
(host_tests/support/replay_stream.py), whose own Python byte copying is measured separately.
"""

import allocs
import crc16
import f32
import meters
import modbus
from compat import ticks_diff, ticks_us
from modbus_frames import floats, read_response, words
from reading import Reading
from replay_stream import ReplayStream

ROUNDS = 2000
WIRE_US = (8 + 21) * 10 * 1000000 // 9600

stream = ReplayStream().answer(
    read_response(1, 3, words(20, 10)),
    read_response(1, 3, floats(2301.0)),
    read_response(1, 3, floats(1234.5)),
    read_response(1, 3, floats(5001.0)),
)
master = modbus.Master(stream)
reading = Reading()
meter = meters.create("dtsu666", master, 1, reading, period_ms=0, slow_every=1000000)
now = 0
while not meter.started:
    meter.step(now)
    now += 5
power = read_response(1, 3, floats(28500.0, 1048.0, 1089.0, 713.0))
stream.clear().replay = True
stream.answer(power)
clock = [now + 10]


def poll():
    now = clock[0]
    while meter.step(now) != meters.SAMPLE:
        now += 5
    clock[0] = now


def stream_only():
    stream.write(master._tx_read)
    while stream.readinto(master._chunk):
        pass


def timed(function, rounds):
    start = ticks_us()
    for _ in range(rounds):
        function()
    return ticks_diff(ticks_us(), start) * 1000 // rounds  # ns per call


poll()
poll_ns = timed(poll, ROUNDS)
stream_ns = timed(stream_only, ROUNDS)
report = allocs.measure(poll, 1000)
print(
    "DTSU666 power poll (start + collect + CRC + decode 4 floats): %d us CPU incl. fake UART (%d us of it)"
    % (poll_ns // 1000, stream_ns // 1000)
)
ratio_e5 = poll_ns * 100 // WIRE_US  # CPU/wire x 100000
bare_e5 = (poll_ns - stream_ns) * 100 // WIRE_US
print(
    "  wire time at 9600 8N1: %d us -> CPU/wire ratio %d.%05d (without the fake UART: %d.%05d)"
    % (WIRE_US, ratio_e5 // 100000, ratio_e5 % 100000, bare_e5 // 100000, bare_e5 % 100000)
)
print(
    "  allocations: %d bytes over %d polls (%s under heap_lock)"
    % (report.bytes_allocated, report.calls, "MemoryError" if report.error else "no MemoryError")
)

frame = bytearray(256)
for index in range(256):
    frame[index] = index * 7 & 0xFF


def crc_pure():
    crc16.crc16_pure(frame, 0, 256)


def crc_fast():
    crc16.crc16(frame, 0, 256)


print(
    "CRC-16/MODBUS per byte: pure %d ns, %s %d ns"
    % (timed(crc_pure, 200) // 256, "viper" if crc16.crc16_fast else "pure (no viper)", timed(crc_fast, 200) // 256)
)

value = bytearray(b"\x46\xde\xa8\x00")


def decode():
    f32.decode(value, 0, 20, 1)


print("float32 -> fixed point (f32.decode, native): %d ns per value" % timed(decode, 5000))
