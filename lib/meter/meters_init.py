"""meters.Meter's constructor: a module of its own, loaded to build one, then dropped (compat.build).

It runs at boot (and for a new inverter list) only, so its bytecode need not stay in RAM while the gateway runs
(the firmware's .mpy files are imported into RAM). Allocates: the buffers and tables are made here.
"""

from array import array

from compat import const
from meters import MAX_RATIO, STARTUP_CHECK

_MAX_BLOCKS = const(6)
_MAX_FIELDS = const(16)


def init(
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
