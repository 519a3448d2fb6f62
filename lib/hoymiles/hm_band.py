"""The sub-GHz bands of the HMS and HMT inverters (on the CMT2300A), and the airtime account.

Bands (HMS/HMT, [ODTU] HoymilesRadio_CMT): a channel is 250 kHz above the
band's base (860 MHz for EU, 900 MHz for US and BR). After power-up or
15 min without contact an inverter listens on its boot frequency (868 MHz EU,
915 MHz US/BR); ChannelChange sent there moves it to the working frequency.

Airtime. In the EU the 863-870 MHz sub-bands allow a duty cycle of about 1 %:
36 s of transmission per rolling hour. `Airtime` counts what the gateway
transmits in 60 one-minute buckets, paces the polls with a token bucket filled
at the rate of the poll share (the budget less a reserve for commands), and
refuses new transactions once the hour's budget is spent. Commands that lower
a limit are never asked. US and BR have no duty-cycle rule for these devices:
budget 0, counted only. A frame's airtime is estimated from the CMT2300A
setup: 30 bytes preamble and 4 sync bytes as they are, then length byte,
payload and CRC16 FEC(7,4)-coded (14 bits per byte), at 20 kbps (50 us a bit):
a 27-byte request takes 34.6 ms.

Timing and allocation: everything is allocated in `__init__`; `spend` and
the `may_*` checks are small-int arithmetic, at most 60 bucket steps after a
long idle time; nothing allocates.
"""

from array import array

from compat import const, ticks_add, ticks_diff

REGIONS = ("eu", "us", "br")
_BASE_MHZ = (860, 900, 900)
_LEGAL_MHZ = ((863, 870), (905, 925), (915, 928))
_DEFAULT_MHZ = (865, 918, 918)
_BOOT_MHZ = (868, 915, 915)
_CODES = (b"\x02\x15\x21", b"\x03\x17\x3c", b"\x03\x17\x3c")  # ChannelChange bytes 9-11
_BUDGET_MS = (36000, 0, 0)  # per rolling hour; 0: no duty-cycle rule
CHANNELS_PER_MHZ = const(4)

_BUCKETS = const(60)
_BUCKET_MS = const(60000)
_OVERHEAD_US = const(15700)  # (30 + 4) * 8 bits plain + 3 * 14 bits coded, 50 us each
_BYTE_US = const(700)  # 14 coded bits
_TOKENS_MAX_US = const(1000000)  # polls may come in a burst of about one second of airtime
_REFILL_MAX_MS = const(20000)  # keeps elapsed * share inside the small ints


class Band:
    """The radio rules of a region and the working frequency; ValueError outside the legal range."""

    def __init__(self, region, frequency_mhz=0):
        if region not in REGIONS:
            raise ValueError("cmt_region must be one of %s, not %r" % (", ".join(REGIONS), region))
        index = REGIONS.index(region)
        low, high = _LEGAL_MHZ[index]
        if not frequency_mhz:
            frequency_mhz = _DEFAULT_MHZ[index]
        if not low <= frequency_mhz <= high:
            raise ValueError("cmt_frequency_mhz %d is outside the legal %d..%d MHz of region %s" % (
                frequency_mhz, low, high, region))
        self.region = region
        self.legal_mhz = (low, high)
        self.base_mhz = _BASE_MHZ[index]
        self.frequency_mhz = frequency_mhz
        self.boot_mhz = _BOOT_MHZ[index]
        self.channel = self.channel_of(frequency_mhz)
        self.boot_channel = self.channel_of(self.boot_mhz)
        self.code = _CODES[index]
        self.budget_ms = _BUDGET_MS[index]

    def channel_of(self, frequency_mhz):
        return (frequency_mhz - self.base_mhz) * CHANNELS_PER_MHZ


def frame_airtime_us(length):
    """Time on air of one CMT2300A frame of `length` bytes, in us."""
    return _OVERHEAD_US + length * _BYTE_US


class Airtime:
    """Transmitted time per rolling hour against a budget (0 = none), and the pacing of polls."""

    def __init__(self, budget_ms, reserve_ms=-1):
        self.budget_ms = budget_ms
        self.reserve_ms = budget_ms // 3 if reserve_ms < 0 else reserve_ms
        self._share_ms = budget_ms - self.reserve_ms  # for polls, per hour
        self._buckets = array("i", bytes(4 * _BUCKETS))
        self._index = 0
        self._bucket_t_ms = 0
        self._refill_t_ms = 0
        self._started = False
        self._carry_us = 0
        self._refill_rest = 0
        self.total_ms = 0  # in the last hour
        self.tokens_us = _TOKENS_MAX_US
        self.frames = 0

    def spend(self, length, paced):
        """Count one transmitted frame; `paced` frames (polls) also use up poll tokens."""
        us = frame_airtime_us(length)
        self.frames += 1
        if paced:
            self.tokens_us -= us
        us += self._carry_us
        self._carry_us = us % 1000
        self._buckets[self._index] += us // 1000
        self.total_ms += us // 1000

    def used_ms(self, now_ms):
        self._roll(now_ms)
        return self.total_ms

    def may_poll(self, now_ms):
        """True if a poll (or another request that can wait) may start now."""
        if not self.budget_ms:
            return True
        self._roll(now_ms)
        return self.tokens_us > 0 and self.total_ms + self.reserve_ms < self.budget_ms

    def may_command(self, now_ms):
        """True if a command that does not lower a limit may start now (the hour's budget is not spent)."""
        if not self.budget_ms:
            return True
        self._roll(now_ms)
        return self.total_ms < self.budget_ms

    def _roll(self, now_ms):
        if not self._started:
            self._started = True
            self._bucket_t_ms = self._refill_t_ms = now_ms
        self._refill(now_ms)
        steps = ticks_diff(now_ms, self._bucket_t_ms) // _BUCKET_MS
        if steps >= _BUCKETS:
            steps = _BUCKETS  # idle for an hour: every bucket is old
            self._bucket_t_ms = now_ms
        else:
            self._bucket_t_ms = ticks_add(self._bucket_t_ms, steps * _BUCKET_MS)
        for _ in range(steps):
            self._index = (self._index + 1) % _BUCKETS
            self.total_ms -= self._buckets[self._index]
            self._buckets[self._index] = 0

    def _refill(self, now_ms):
        elapsed = ticks_diff(now_ms, self._refill_t_ms)
        if elapsed <= 0:
            return
        self._refill_t_ms = now_ms
        if elapsed > _REFILL_MAX_MS:
            elapsed = _REFILL_MAX_MS
        # share ms per hour = share / 3600 us per ms
        gained = elapsed * self._share_ms + self._refill_rest
        self._refill_rest = gained % 3600
        self.tokens_us += gained // 3600
        if self.tokens_us > _TOKENS_MAX_US:
            self.tokens_us = _TOKENS_MAX_US
