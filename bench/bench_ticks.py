"""Cost of the clock arithmetic every tick does: ticks_ms + ticks_diff + ticks_add."""

import allocs
from compat import ticks_add, ticks_diff, ticks_ms, ticks_us

ROUNDS = 20000


def tick():
    ticks_diff(ticks_add(ticks_ms(), 250), 0)


start = ticks_us()
for _ in range(ROUNDS):
    tick()
elapsed_us = ticks_diff(ticks_us(), start)
report = allocs.measure(tick, 1000)
print("ticks_ms+ticks_add+ticks_diff: %d ns per call (unix port), %d bytes allocated per 1000 calls"
      % (elapsed_us * 1000 // ROUNDS, report.bytes_allocated))
