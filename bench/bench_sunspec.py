"""Cost of the SunSpec link on the unix port: a power read cycle, a limit write, discovery.

One power read = FC03 of W and W_SF: request 8 bytes, answer 9 bytes = 17.7 ms on the wire at
9600 baud 8N1. A 123 limit write = FC16 of 5 registers: request 19 bytes, answer 8 = 28.1 ms.
The inverter is a replaying fake UART (host_tests/support/replay_stream.py).
"""

import allocs
import fleet
import modbus_write
import sunspec_link
from compat import ticks_diff, ticks_us
from modbus_frames import frame, read_response, words
from replay_stream import ReplayStream

ROUNDS = 2000
ADDRESS = 3

# A map at 40000: SunS, 103 (L=50), 121 (L=30), 123 (L=24), end.
DISCOVERY = (
    read_response(ADDRESS, 3, words(0x5375, 0x6E53, 103, 50)),
    read_response(ADDRESS, 3, words(121, 30)),
    read_response(ADDRESS, 3, words(123, 24)),
    read_response(ADDRESS, 3, words(0xFFFF, 0)),
    read_response(ADDRESS, 3, words(*([5000] + [0] * 20))),
    read_response(ADDRESS, 3, words(0xFFFF)),
)
POWER = read_response(ADDRESS, 3, words(12345, 0xFFFF))


def make(answers):
    stream = ReplayStream()
    stream.answer(*answers)
    master = modbus_write.WriteMaster(stream, timeout_ms=50, retries=0, silence_ms=2)
    table = fleet.Fleet(1)
    table.add(0, 5000)
    return stream, table, sunspec_link.SunSpecLink(master, table, ((0, ADDRESS),), output_period_ms=0)


clock = [0]


def cycle(link):
    """Steps until one transaction has been started and collected."""
    done = 0
    while done < 2:
        clock[0] += 3
        status = link.step(clock[0])
        if status != sunspec_link.WAIT_BUS and status != sunspec_link.IDLE:
            done += 1


stream, table, link = make(DISCOVERY)
start = ticks_us()
while not link.maps[0].ready:
    cycle(link)
discovery_us = ticks_diff(ticks_us(), start)
stream.clear()
stream.replay = True
stream.answer(POWER)


def power_cycle():
    cycle(link)


start = ticks_us()
for _ in range(ROUNDS):
    power_cycle()
power_us = ticks_diff(ticks_us(), start) // ROUNDS
power_alloc = allocs.measure(power_cycle, 500).bytes_allocated
print("discovery (6 reads): %d us in all, map ready: %s" % (discovery_us, link.maps[0].ready))
print(
    "power read cycle (start + collect, %d us on the wire): %d us, %d bytes allocated per 500 (%d reports)"
    % (17700, power_us, power_alloc, table.output_seq[0])
)

# Limit writes: the FC16 echo as the answer, forever.
stream.clear()
stream.answer(frame(ADDRESS, 16, words(link.maps[0].limit_reg, 5)))


def write_cycle():
    table.command(0, 20000, clock[0])
    cycle(link)


start = ticks_us()
for _ in range(ROUNDS):
    write_cycle()
write_us = ticks_diff(ticks_us(), start) // ROUNDS
write_alloc = allocs.measure(write_cycle, 500).bytes_allocated
print(
    "limit write cycle (123 block, %d us on the wire): %d us, %d bytes allocated per 500 (%d acked, %d failed)"
    % (28100, write_us, write_alloc, link.writes[0], link.failures[0])
)
