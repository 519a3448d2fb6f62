"""Modbus writes, FC06 and FC16: the master of a bus where something writes (the SunSpec link; tools).

    master = WriteMaster(stream, baud, ...)     # modbus.Master's arguments; it reads as that does
    master.start_write_multiple(address, register, values, now_ms)
    master.start_write_single(address, register, value, now_ms)
    status = master.poll(now_ms)                # DONE once the slave echoed the register (and FC06 value)

A meter only reads, so a gateway without SunSpec inverters never loads this
module: modbus.Master has the reads, this subclass adds the writes (the
answer's echo check stays in modbus.Master's parser). The same rules as for
reads apply (modbus.py): one transaction at a time, the same-length rule,
the quiet time after an unanswered attempt.

Timing and allocation: as modbus.Master; the first FC16 write of each length
makes its memoryview of the request buffer, later ones allocate nothing.
"""

from compat import const
from modbus import Master, _check_block

_FC_WRITE_SINGLE = const(6)
_FC_WRITE_MULTIPLE = const(16)
_MAX_WRITE_REGISTERS = const(123)
_MAX_REQUEST = const(9 + 2 * _MAX_WRITE_REGISTERS)
_REQUEST_LEN = const(8)  # a read or FC06 request


class WriteMaster(Master):
    def __init__(self, *args, **options):
        super().__init__(*args, **options)
        self.tx = bytearray(_MAX_REQUEST)  # modbus.Master's holds a read request only
        self._tx_read = self._tx_view = memoryview(self.tx)[:_REQUEST_LEN]
        self._tx_views = {}  # FC16 request length -> memoryview

    def start_write_single(self, address, register, value, now_ms, late_ms=-1):
        """Send FC06 (one register); False if the bus is not free."""
        _check_block(register, 1)
        if not self.free(now_ms):
            return False
        self.address = address
        self.function = _FC_WRITE_SINGLE
        self.count = 0
        self._length = 1
        if self._twin_pending(register, now_ms):
            return False
        self._header(register, value & 0xFFFF)
        self._tx_view = self._tx_read
        self._begin(now_ms, late_ms)
        return True

    def start_write_multiple(self, address, register, values, now_ms, late_ms=-1):
        """Send FC16 with `values` (a sequence of 16-bit ints); False if the bus is not free."""
        if len(values) < 1 or len(values) > _MAX_WRITE_REGISTERS:
            raise ValueError("bad write request")
        _check_block(register, len(values))
        if not self.free(now_ms):
            return False
        self.address = address
        self.function = _FC_WRITE_MULTIPLE
        self.count = 0
        self._length = len(values)
        if self._twin_pending(register, now_ms):
            return False
        self._multiple(register, values)
        self._begin(now_ms, late_ms)
        return True

    def _multiple(self, register, values):
        count = len(values)
        self._header(register, count)
        self._values(values, count)
        self._tx_view = self._view(9 + 2 * count)

    def _values(self, values, count):
        self.tx[6] = 2 * count
        index = 0
        while index < count:
            self._put(7 + 2 * index, values[index])
            index += 1
        self._crc_at(7 + 2 * count)

    def _view(self, length):
        """A memoryview of the first `length` request bytes, made once per length."""
        view = self._tx_views.get(length)
        if view is None:
            view = memoryview(self.tx)[:length]
            self._tx_views[length] = view
        return view
