"""A compact Modbus-RTU master: function codes 03 and 04 (06 and 16: modbus_write.py), non-blocking.

The master works over any stream with `write(buf)`, `readinto(buf)` (returns
a count, or None/0 when nothing is there) and `any()`: the ESP32 UART behind
the firmware's RS485 driver (which raises DE, writes, flushes and lowers DE),
a pseudo-terminal, pyserial. It knows nothing of DE pins and never sleeps.

One transaction at a time:

    if master.free(now_ms):
        master.start_read(address, FC_READ_HOLDING, register, count, now_ms)
    ...
    status = master.poll(now_ms)   # call as often as you like
    # PENDING: keep polling; DONE: registers are in master.rx from
    # master.offset on; TIMEOUT, BAD_FRAME, EXCEPTION (code in
    # master.exception_code): the transaction failed after its retries.

`poll` reports a finished transaction once; only the caller that started it
polls it, so drivers share one master (one bus) via `free()`/`take_turn()`.

The response is collected by a state machine fed with `readinto`: bytes
before the frame (noise, an echo of our own request) are skipped by looking
for address + function + byte count with a valid CRC; a frame ends by its
expected length; a silence of `silence_ms` (t3.5, rounded up) after bytes
that make no valid frame ends the attempt early as BAD_FRAME; no answer within
`timeout_ms` is TIMEOUT. TIMEOUT and BAD_FRAME are retried `retries` times.
Time only comes in as `now_ms` (ticks_ms), so tests and the simulator control it.

One answer, one request. An RTU answer carries no transaction number, so a
late answer looks like the answer to the next request with the same
function and byte count. Four rules keep them apart:
- An answer counts only inside its own request's window: bytes first read
  by a poll after `timeout_ms` end the attempt instead of completing it.
- After an attempt got no answer (timeout or bad frame; even if a retry
  then succeeds) the bus stays quiet until `late_ms` (the slave's slowest
  answer, from the request) + t3.5 after the last request. An attempt
  answered at once leaves nothing outstanding: t3.5 only.
- What arrives between transactions (late answer, duplicate, noise) is
  thrown away by `free()` or the next request, and counted in `drained`.
- A request waits (`start_*` returns False) while one to the same slave,
  function and length but another register may still be answered
  (late_ms + t3.5, modbus_recent.py); other lengths differ in byte count.
So no answer given within `late_ms` of its request (even twice) is taken
for another's; for slower slaves the drivers vary the byte count of
consecutive reads (meters.py). `late_ms` is per slave: `start_*(...,
late_ms=...)`, else the master's.

Counters (bus totals, per attempt): `ok`, `timeout`, `crc` (bad or
truncated frames), `exception`; `drained` (stale bytes thrown away). Meter
drivers keep per-device counters.

`master.error()` turns a failure into an exception for code that wants one
(tools, tests): a modbus_error.ModbusError, whose module (the names of the
codes) is loaded only then, so a running gateway does not hold its strings.

Limitation: an adapter that echoes our own transmission is handled for reads
(the echo is no valid response), but the echo of an FC06 request is
byte-for-byte what the slave answers, so on such a line a write can be
confirmed by its own echo. Reads are what the control loop uses.

Timing and allocation: start_read, start_write_*, free and poll allocate
nothing (preallocated request/response buffers, bound methods taken once,
ints < 2**16, frames of at most 11 words); only the first FC16 write of each
length makes its memoryview of the request buffer. Draining reads at most
2 x 256 bytes per call, so a babbling line cannot hold a tick.
"""

from compat import build, const, ticks_add, ticks_diff
from crc16 import crc16

FC_READ_HOLDING = const(3)
FC_READ_INPUT = const(4)
_FC_WRITE_SINGLE = const(6)

# poll() results
IDLE = const(0)
PENDING = const(1)
DONE = const(2)
TIMEOUT = const(-1)
BAD_FRAME = const(-2)
EXCEPTION = const(-3)

MAX_FRAME = const(256)
_MAX_READ_REGISTERS = const(125)
# Reading a babbling line stops after this many bytes per poll (or flush).
_MAX_DRAIN = const(2 * MAX_FRAME)

def silence_ms_for(baud, char_bits=10):
    """t3.5 in whole ms, rounded up, plus one tick of ms-clock jitter (1.75 ms above 19200 baud)."""
    if baud > 19200:
        return 3
    return (35 * char_bits * 100 + baud - 1) // baud + 1


def _check_block(register, count):
    """Registers register .. register + count - 1 must all exist: a request is never taken modulo 2**16."""
    if register < 0 or register + count > 0x10000:
        raise ValueError("register block outside 0..0xFFFF")


class Master:
    def __init__(self, *args, **options):
        build("meter_init", "modbus", self, args, options)  # boot only: meter_init.py
    # --- starting a transaction -------------------------------------------------

    def free(self, now_ms):
        """True when no transaction runs and the quiet time after the last one has passed (t3.5, or after an
        unanswered attempt late_ms + t3.5 from its request); what arrives meanwhile is drained."""
        if self._busy:
            return False
        if self._quiet:
            self._drain()
            if ticks_diff(now_ms, self._t_free) < 0:
                return False
            self._quiet = False
        return True

    def take_turn(self, token, now_ms):
        """True when the caller (any non-zero `token`, e.g. its Modbus address) may start a transaction:
        the bus is free and nobody else queued first. Otherwise it queues, if nobody has, and goes next:
        drivers sharing one bus take turns, and a slow meter cannot starve the others."""
        if self.free(now_ms) and (self.waiter == 0 or self.waiter == token):
            self.waiter = 0
            return True
        if self.waiter == 0:
            self.waiter = token
        return False

    def start_read(self, address, function, register, count, now_ms, late_ms=-1):
        """Send FC03/FC04 for `count` registers from `register`; False if the bus is not free.

        late_ms: the slave's slowest answer (-1: the master's `late_ms`)."""
        if count < 1 or count > _MAX_READ_REGISTERS or (function != FC_READ_HOLDING and function != FC_READ_INPUT):
            raise ValueError("bad read request")
        _check_block(register, count)
        if not self.free(now_ms):
            return False
        self.address = address
        self.function = function
        self.count = count
        self._length = count
        if self._twin_pending(register, now_ms):
            return False
        self._header(register, count)
        self._tx_view = self._tx_read
        self._begin(now_ms, late_ms)
        return True

    def _twin_pending(self, register, now_ms):
        key = (self.address << 16) | (self.function << 8) | self._length
        return self._recent.twin_pending(key, register, now_ms)

    def _put(self, position, word):
        self.tx[position] = (word >> 8) & 0xFF
        self.tx[position + 1] = word & 0xFF

    def _crc_at(self, end):
        """Append the CRC of tx[0:end] at tx[end] (low byte first)."""
        crc = crc16(self.tx, 0, end)
        self.tx[end] = crc & 0xFF
        self.tx[end + 1] = crc >> 8

    def _header(self, register, word):
        self.tx[0] = self.address
        self.tx[1] = self.function
        self._put(2, register)
        self._put(4, word)
        self._crc_at(6)

    def _begin(self, now_ms, late_ms):
        self._busy = True
        self._tries = 0
        self._late = self.late_ms if late_ms < 0 else late_ms
        self._unanswered = False
        self.exception_code = 0
        self._send(now_ms)

    def _drain(self):
        """Throw away what the receive buffer holds (at most _MAX_DRAIN bytes), counted in `drained`."""
        drained = 0
        while drained < _MAX_DRAIN and self._any():
            count = self._readinto(self._chunk)
            if not count:
                break
            drained += count
        self.drained = (self.drained + drained) & 0x3FFFFFFF

    def _send(self, now_ms):
        self._drain()  # whatever is in the receive buffer now is not our answer
        self._rx_len = 0
        self._start = 0
        self._heard = False  # any byte since the request
        self._write(self._tx_view)
        self._t_sent = now_ms
        self._t_byte = now_ms
        self._remember(now_ms)

    def _remember(self, now_ms):
        self._recent.remember(ticks_add(now_ms, self._late + self.silence_ms))

    # --- collecting the response ------------------------------------------------
    # Hot path. Each method keeps its frame within 11 words (locals + value
    # stack): a larger bytecode frame is taken from the heap on every call.

    def poll(self, now_ms):
        """Advance the transaction; returns PENDING, DONE, TIMEOUT, BAD_FRAME, EXCEPTION (or IDLE)."""
        if not self._busy:
            return IDLE
        if ticks_diff(now_ms, self._t_sent) > self.timeout_ms:
            # The window has closed: bytes read now may have come after it.
            status = BAD_FRAME if self._heard else TIMEOUT
        else:
            status = self._listen(now_ms)
            if status == PENDING:
                return PENDING
        if status == DONE:
            self.ok += 1
        elif status == EXCEPTION:
            self.exception += 1
        elif self._failed(status, now_ms):
            return PENDING
        return self._end(status, now_ms)

    def _listen(self, now_ms):
        """Read and parse inside the window: DONE, EXCEPTION, a failure, or PENDING."""
        if self._start:
            self._compact()
        self._receive(now_ms)
        status = self._parse()
        if status == PENDING:
            if self._heard and ticks_diff(now_ms, self._t_byte) >= self.silence_ms:
                return BAD_FRAME
            if ticks_diff(now_ms, self._t_sent) >= self.timeout_ms:
                return TIMEOUT
        return status

    def _failed(self, status, now_ms):
        """Count a failed attempt; True if it was sent again."""
        if status == TIMEOUT:
            self.timeout += 1
        else:
            self.crc += 1
        self._unanswered = True
        if self._tries < self.retries:
            self._tries += 1
            self._send(now_ms)
            return True
        return False

    def _end(self, status, now_ms):
        self._busy = False
        self._quiet = True
        self._t_free = ticks_add(now_ms, self.silence_ms)
        if self._unanswered:
            # An answer to one of the attempts may still come: it must land in the quiet time.
            late_end = ticks_add(self._t_sent, self._late + self.silence_ms)
            if ticks_diff(late_end, self._t_free) > 0:
                self._t_free = late_end
        self.status = status
        return status

    def _compact(self):
        """Drop the bytes before _start, which cannot begin the frame."""
        rx = self.rx
        start = self._start
        index = start
        while index < self._rx_len:
            rx[index - start] = rx[index]
            index += 1
        self._rx_len -= start
        self._start = 0

    def _receive(self, now_ms):
        received = 0
        while received < _MAX_DRAIN:
            count = self._readinto(self._chunk)
            if not count:
                break
            self._append(count)
            self._t_byte = now_ms
            self._heard = True
            received += count

    def _append(self, count):
        rx = self.rx
        chunk = self._chunk
        length = self._rx_len
        index = 0
        while index < count and length < MAX_FRAME:
            rx[length] = chunk[index]
            length += 1
            index += 1
        self._rx_len = length

    def _parse(self):
        start = self._start
        while start < self._rx_len:
            size = self._frame_at(start)
            if size == 0:
                break  # a frame may start here: wait for more bytes
            if size > 0:
                self._start = start
                if size == 5:
                    self.exception_code = self.rx[start + 2]
                    return EXCEPTION
                self.offset = start + 3
                return DONE
            start += 1
        self._start = start
        return PENDING

    def _frame_at(self, start):
        """Size of a complete valid response at rx[start], 0 if it may be one but is incomplete, -1 if not."""
        rx = self.rx
        available = self._rx_len - start
        if rx[start] != self.address:
            return -1
        if available < 2:
            return 0
        answer = rx[start + 1]
        if answer == self.function | 0x80:
            size = 5
        elif answer != self.function:
            return -1
        elif self.function <= FC_READ_INPUT:
            if available < 3:
                return 0
            if rx[start + 2] != 2 * self.count:
                return -1
            size = 5 + 2 * self.count
        else:
            size = 8
        if available < size:
            return 0
        if not self._crc_ok(start, size):
            return -1
        if size == 8 and not self._echoes(start):
            return -1
        return size

    def _crc_ok(self, start, size):
        rx = self.rx
        end = start + size - 2
        return rx[end] | (rx[end + 1] << 8) == crc16(rx, start, end)

    def _echoes(self, start):
        """A write response repeats the request's register (and, for FC06, its value)."""
        index = 2
        last = 6 if self.function == _FC_WRITE_SINGLE else 4
        while index < last:
            if self.rx[start + index] != self.tx[index]:
                return False
            index += 1
        return True

    # --- results -------------------------------------------------------------------

    def register(self, index):
        """Register `index` (0-based) of the last DONE read, as an unsigned 16-bit int."""
        offset = self.offset + 2 * index
        return (self.rx[offset] << 8) | self.rx[offset + 1]

    def error(self):
        """A modbus_error.ModbusError for the last failed transaction (allocates: not for the hot path)."""
        from modbus_error import ModbusError

        return ModbusError(self.exception_code if self.status == EXCEPTION else self.status)
