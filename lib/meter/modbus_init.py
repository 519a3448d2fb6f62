"""modbus.Master's constructor: a module of its own, loaded to build one, then dropped (compat.build).

It runs at boot (and for a new inverter list) only, so its bytecode need not stay in RAM while the gateway runs
(the firmware's .mpy files are imported into RAM). Allocates: the buffers and tables are made here.
"""

from compat import const
from modbus import IDLE, MAX_FRAME, silence_ms_for
from modbus_recent import RecentRequests

_REQUEST_LEN = const(8)
_CHUNK = const(32)
# The slowest answer a slave gives, from the request, unless the caller says otherwise.
_DEFAULT_LATE_MS = const(1000)


def init(self, stream, baud=9600, char_bits=10, timeout_ms=250, retries=1, silence_ms=None, late_ms=None):
    self._write = stream.write
    self._readinto = stream.readinto
    self._any = stream.any
    self.timeout_ms = timeout_ms
    self.retries = retries
    self.silence_ms = silence_ms_for(baud, char_bits) if silence_ms is None else silence_ms
    self.late_ms = _DEFAULT_LATE_MS if late_ms is None else late_ms
    self.tx = bytearray(_REQUEST_LEN)  # a read request; modbus_write's master has room for FC16
    self._tx_read = memoryview(self.tx)
    self._tx_view = self._tx_read  # the request to send (modbus_write: an FC16 request's own view)
    self.rx = bytearray(MAX_FRAME)
    self._chunk = bytearray(_CHUNK)
    self._rx_len = 0
    self._start = 0  # first rx byte that may still begin the response
    self._busy = False
    self._heard = False
    self._tries = 0
    self._late = 0  # late_ms of the running transaction
    self._unanswered = False  # an attempt of the running transaction got no answer
    self._t_sent = 0
    self._t_byte = 0
    self._t_free = 0
    self._quiet = False  # a transaction ended: the bus is not free before _t_free
    self._recent = RecentRequests()  # for the same-length rule
    self._length = 0  # registers the request being started reads or writes
    self.address = 0
    self.function = 0
    self.count = 0  # registers asked for
    self.offset = 0  # rx index of the first data byte of a DONE read
    self.exception_code = 0
    self.status = IDLE  # result of the last finished transaction
    # Who is queued for the bus next (0: nobody; drivers use their Modbus
    # address or another non-zero token) so drivers sharing this master
    # take turns (see meters.py).
    self.waiter = 0
    self.ok = 0
    self.timeout = 0
    self.crc = 0
    self.exception = 0
    self.drained = 0
