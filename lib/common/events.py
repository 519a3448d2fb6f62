"""A fixed ring of events raised on the hot path and written out later.

The control tick must not touch the file system (a flash write can block for
milliseconds), so whoever notices something worth logging (the supervisor, the
fail-safe, the meter health) pushes a kind, the time of the tick and two
integers here; the firmware drains the ring into the event log and telemetry
outside the tick. `push` and
`pop` are a few array stores: no allocation. When the ring is full the oldest
event is overwritten and `lost` counts it. Every pusher stamps an event with
the time it pushes it, so the ring holds events in time order and the log
needs no sorting. The texts for people are lib/status/eventlog.py's
`describe`, and its NAMES the short names MQTT publishes: loaded only to
write, they take no RAM in between.
"""

from array import array

from compat import const

BOOT = const(1)
FAILSAFE_ENTERED = const(2)  # a: reason (FAILSAFE_* of lib/control/guard.py)
FAILSAFE_LEFT = const(3)
METER_LOST = const(4)
METER_BACK = const(5)
EXCURSION = const(6)  # a: peak over the limit (dW), b: duration (ms)
STAGE2 = const(7)  # a: peak over the limit (dW), b: duration (ms)
TRIP = const(8)  # a: trip reason (supervisor constant)
LOCKOUT_ENDED = const(9)
RESET = const(10)  # installer reset of the supervisor
CONFIG_CHANGED = const(11)  # a: the key's index in cfg_schema.KEYS, b: an int value (else 0)
IMPLAUSIBLE = const(12)  # a: plausibility reason, b: phase
COMMISSION = const(13)  # a: seconds of commissioning set; 0: commissioning ended
TRIP_HELD = const(14)  # a: trip reason, b: why held (1 commissioning, 2 no inverters)


class EventRing:
    def __init__(self, size=16):
        self.size = size
        self.kind = bytearray(size)
        self.t_ms = array("i", bytes(4 * size))
        self.a = array("i", bytes(4 * size))
        self.b = array("i", bytes(4 * size))
        self.head = 0  # next slot to write
        self.count = 0
        self.lost = 0
        # The event `pop` took, readable until the next pop.
        self.last_kind = 0
        self.last_t_ms = 0
        self.last_a = 0
        self.last_b = 0

    def push(self, kind, now_ms, a=0, b=0):
        slot = self.head
        self.kind[slot] = kind
        self.t_ms[slot] = now_ms
        self.a[slot] = a
        self.b[slot] = b
        self.head = (slot + 1) % self.size
        if self.count == self.size:
            self.lost += 1
        else:
            self.count += 1

    def pop(self):
        """Take the oldest event into last_*; return its kind, or 0 when empty."""
        if self.count == 0:
            return 0
        slot = (self.head - self.count) % self.size
        self.count -= 1
        self.last_kind = self.kind[slot]
        self.last_t_ms = self.t_ms[slot]
        self.last_a = self.a[slot]
        self.last_b = self.b[slot]
        return self.last_kind
