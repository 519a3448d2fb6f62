"""The constructors of the meter layer's classes (and other boot-only code): loaded to build one, then dropped.

They run at boot (and for a new inverter list) only: kept in the classes, their bytecode would stay in RAM while
the gateway runs (the firmware's .mpy files are imported into RAM). A class's __init__ calls compat.build, which
imports this module, runs one function and drops it again. Each function is named after its class's module (a
name the firmware interns anyway: every new name costs RAM). Allocates: the buffers and tables are made here.
"""

from array import array

from compat import const
from meters import MAX_RATIO, STARTUP_CHECK
from modbus import IDLE, MAX_FRAME, silence_ms_for
from modbus_recent import RecentRequests
from plausibility import MAX_CURRENT_MA, OK

_REQUEST_LEN = const(8)
_CHUNK = const(32)
# The slowest answer a slave gives, from the request, unless the caller says otherwise.
_DEFAULT_LATE_MS = const(1000)
_MAX_BLOCKS = const(6)
_MAX_FIELDS = const(16)
_NOMINAL_V = const(230)
_VOLTAGE_MIN_V = const(176)  # at _NOMINAL_V; scaled to other nominal voltages
_VOLTAGE_MAX_V = const(288)
_RECENT_SIZE = const(16)  # requests a RecentRequests remembers


def modbus(self, stream, baud=9600, char_bits=10, timeout_ms=250, retries=1, silence_ms=None, late_ms=None):
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


def meters(
    self,
    master,
    address,
    reading,
    model,
    invert=False,
    fc=None,
    ct_ratio=None,
    vt_ratio=None,
    period_ms=1000,
    slow_every=5,
    retry_ms=5000,
    startup=(STARTUP_CHECK,),
    name="meter",
    late_ms=None,
):
    if not 1 <= address <= 247:
        raise ValueError("Modbus address must be 1..247")
    self.name = name
    self.master = master
    self.address = address
    self.reading = reading
    self.invert = invert
    self.auto_fc = fc is None
    self.fc = model[0] if fc is None else fc
    self.phases = model[1]
    self._sum_phases = model[2]
    self._freq_block = model[3]
    self.ct_override = ct_ratio
    self.vt10_override = None if vt_ratio is None else int(vt_ratio * 10 + 0.5)
    for value in (ct_ratio, self.vt10_override):
        if value is not None and not 1 <= value <= MAX_RATIO:
            raise ValueError("ratios must lie in 1..9999 (vt_ratio in steps of 0.1)")
    self.ct_ratio = ct_ratio or 1
    self.vt_ratio10 = self.vt10_override or 10
    self.period_ms = period_ms
    self.slow_every = max(1, slow_every)
    self.retry_ms = retry_ms
    self.late_ms = -1 if late_ms is None else late_ms  # -1: the master's
    self._startup_plan = startup
    reading.phases = self.phases
    # Block and field tables, loaded from the model's tuples.
    self._block_reg = array("i", bytes(4 * _MAX_BLOCKS))
    self._block_count = array("i", bytes(4 * _MAX_BLOCKS))
    self._block_first = array("i", bytes(4 * _MAX_BLOCKS))
    self._block_end = array("i", bytes(4 * _MAX_BLOCKS))
    self._field_offset = array("i", bytes(4 * _MAX_FIELDS))
    self._field_target = array("i", bytes(4 * _MAX_FIELDS))
    self._field_num = array("i", bytes(4 * _MAX_FIELDS))
    self._field_den = array("i", bytes(4 * _MAX_FIELDS))
    self._blocks = 0
    self.load_model(model)
    self.ok = 0
    self.timeout = 0
    self.crc = 0
    self.exception = 0
    self.invalid = 0
    self.exception_code = 0
    self.started = False
    self.slow_reads = 0  # slow blocks read since start-up
    self._rx = master.rx
    self._base = 0
    self._register = 0
    self._count = 0
    self._waiting = False
    self._alternate = False  # the next power read is the longer one
    self.alternate_ok = True  # False once the meter refused the longer power read _ALT_REFUSALS times
    self._alt_refusals = 0
    self._stage = 0  # index into the start-up plan
    self._block = 0
    self.answered_block = -1  # the register block whose answer the last step() decoded
    self._slow_next = 1
    self._cycle = 0
    self._t_due = 0
    self._t_period = 0
    self._due_set = False


def plausibility(self, max_current_ma, accuracy_pct=1, power_floor_w=10, phases=3, nominal_voltage_v=_NOMINAL_V):
    """max_current_ma: the meter's maximum current times the CT ratio (primary side); phases: the
    grid's phases or legs (1, 2 for split-phase, 3); nominal_voltage_v: phase (leg) to neutral."""
    if not 0 < max_current_ma <= MAX_CURRENT_MA:
        raise ValueError("max_current_ma must be 1..%d (3 kA)" % MAX_CURRENT_MA)
    if not 1 <= phases <= 3:
        raise ValueError("phases must be 1, 2 (split-phase) or 3")
    if not 100 <= nominal_voltage_v <= 240:
        raise ValueError("nominal_voltage_v must be 100..240")
    self.max_current_ma = max_current_ma
    self.phases = phases
    # Whole volts, rounded: 176..288 V at 230 V, 92..150 V at 120 V.
    self.voltage_min_dv = (nominal_voltage_v * _VOLTAGE_MIN_V + _NOMINAL_V // 2) // _NOMINAL_V * 10
    self.voltage_max_dv = (nominal_voltage_v * _VOLTAGE_MAX_V + _NOMINAL_V // 2) // _NOMINAL_V * 10
    self.accuracy_pct = accuracy_pct
    self.power_floor_dw = power_floor_w * 10
    self.reason = OK
    self.phase = 0


def reading(self, phases=3):
    self.phases = phases
    # False before the first good sample and after bad data: the controller
    # treats an invalid reading like a missing one (fail-safe).
    self.valid = False
    # Counts good power samples; the controller acts when it changes.
    self.seq = 0
    # ticks_ms when the power sample arrived.
    self.t_ms = 0
    self.power_dw = 0
    self.phase_power_dw = array("i", (0, 0, 0))
    self.voltage_dv = array("i", (0, 0, 0))
    self.current_ma = array("i", (0, 0, 0))
    self.frequency_chz = 0
    self.import_wh = 0
    self.export_wh = 0


def modbus_recent(self, size=_RECENT_SIZE):
    self.size = size
    self._key = array("i", bytes(4 * size))  # 0: a free slot (keys are never 0: addresses start at 1)
    self._register = array("i", bytes(4 * size))
    self._until = array("i", bytes(4 * size))
    self.key = 0  # the request being started
    self.register = 0
    self.slot = 0
