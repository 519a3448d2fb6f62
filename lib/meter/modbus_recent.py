"""The Modbus master's memory of recent requests, for its same-length rule (see modbus.py).

A Modbus-RTU answer names its slave, function and byte count, not its
register: an answer to "read 2 registers at 0x200E" fits "read 2 registers
at 0x4000" as well. So the master sends no request while one of the same
slave, function and length but another register could still be answered
(until `late_ms` + t3.5 after it was sent), and `RecentRequests` remembers
the last few: key (address << 16 | function << 8 | length), register, and
the tick until which an answer may come. The same request again (a power
read every period) is no twin: its answer is the one wanted.

Timing and allocation: three preallocated int arrays of `size` entries; a
check is one pass over them (16 by default), and nothing allocates.
"""


from compat import build, ticks_diff


class RecentRequests:
    def __init__(self, *args, **options):
        build("meter_init", "modbus_recent", self, args, options)  # boot only: meter_init.py

    def twin_pending(self, key, register, now_ms):
        """True while another register's request with this key may still be answered; else the request is
        given a slot (its own earlier one, a lapsed one or the one that lapses first) for `remember`."""
        self.key = key
        self.register = register
        self.slot = -1
        if self._scan(now_ms):
            return True
        if self.slot < 0:
            self.slot = self._lapsed(now_ms)
        return False

    def remember(self, until_ms):
        """The request went out: an answer to it may come until `until_ms`."""
        slot = self.slot
        self._key[slot] = self.key
        self._register[slot] = self.register
        self._until[slot] = until_ms

    # Small frames: MicroPython keeps a frame of up to 11 words on the C stack.

    def _scan(self, now_ms):
        index = 0
        while index < self.size:
            if self._key[index] == self.key and ticks_diff(self._until[index], now_ms) > 0:
                if self._register[index] != self.register:
                    return True
                self.slot = index  # the same request again: its own slot
            index += 1
        return False

    def _lapsed(self, now_ms):
        until = self._until
        oldest = 0
        index = 0
        while index < self.size:
            if self._key[index] == 0 or ticks_diff(until[index], now_ms) <= 0:
                return index
            if ticks_diff(until[index], until[oldest]) < 0:
                oldest = index
            index += 1
        return oldest
