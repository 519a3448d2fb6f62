"""A stand-in for the stock image's `ntptime` (tools/ram.py): the host's clock is already right.

`settime()` sets nothing: on the unix port time.time() is the host's UTC
clock. The firmware's NetClock calls it once the WiFi stand-in is up, as it
would call the real one.
"""

host = "pool.ntp.org"


def settime():
    pass
