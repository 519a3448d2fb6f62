"""Grid meter drivers over the Modbus master: Chint DDSU666 / DTSU666 (+ -H), Eastron SDM120 / SDM630.

    meter = meters.create("dtsu666", master, 1, reading, invert=False)
    status = meter.step(now_ms)      # call every loop tick; never blocks

What differs per model is data, not code: a table of register blocks (in meter_<model>.py, imported only for the
configured model), each with the float32 fields it carries (offset, target in the `Reading`, scale num/den to
our fixed-point unit, and whether the CT and/or VT ratio applies). Block 0 is the power block, read once per
`period_ms`; the other ("slow") blocks take turns, one after every `slow_every`-th power read.

Start-up runs inside `step()` before the first power read: every model reads the frequency and requires 40-70
Hz, else WRONG_METER; the DTSU666 first reads its ratios and variant and probes its energy registers
(meter_dtsu666.py); with fc=None an "illegal function" answer switches FC03 -> FC04. A failed start-up is
retried after `retry_ms`.

Units and sign: power_dw (deci-watts, + import / - export, primary side), voltage_dv, current_ma, frequency_chz,
import_wh/export_wh. `invert=True` negates powers and swaps import/export for meters wired the other way round.
Energy saturates at 2**30 - 1 Wh (1,073,741 kWh): the ESP32's small-int limit; beyond it the field holds that
value (documented in docs/METERS.md).

The driver sets `reading.phases` (1 for DDSU666/SDM120, whose power also goes to phase_power_dw[0]). `step()`
returns one of the status constants below (their names: step_names.py). A new power sample sets
`reading.power_dw` (and phases), `reading.t_ms`, `reading.valid = True` and increments `reading.seq`; a failed
or invalid power read sets `reading.valid = False`. Per-device counters (per transaction, after the master's
retries): `ok`, `timeout`, `crc`, `exception`, `invalid`.

Late answers (see modbus.py): the master keeps the bus quiet for `late_ms` (the meter's slowest answer; None:
the master's) after an unanswered request, throws away what arrives meanwhile, and holds back a read while a
read of the same length at another register may still be answered (so the DTSU666 start-up, four 2-register
reads, takes about 3 x late_ms; step() says WAIT_BUS meanwhile). For a meter slower than late_ms, reads that
follow each other differ in byte count, so a stray answer is refused by the master as not ours: the power
block's count is unique in its model (a test checks every table) and alternates between `count` and `count + 2` (one
more float, never used), so even two power reads in a row are told apart. A refused longer read (exception 02)
is followed at once by the plain one, so no sample is lost; a meter that refuses it three times in a row is read
with the plain one from then on (`alternate_ok`).

Sharing a bus: drivers on one master take turns; a driver whose turn comes while another transaction runs
returns WAIT_BUS, leaves its address in `master.waiter` and goes first once the bus is free (so a driver with a
back-to-back start-up cannot starve the others).

Timing and allocation: step() allocates nothing once constructed, in success and failure alike (fields live in
preallocated arrays, decoding is integer-only via f32, every method's frame fits 11 words); the one exception is
a successful DTSU666 start-up, which rebuilds its tables. Each call is a few hundred bytecodes at most (34 us
per power poll on the unix port, bench/bench_modbus.py).
"""


import modbus
from compat import build, const, ticks_add, ticks_diff
from f32 import INVALID, LIMIT, decode, is_finite

# step() results
IDLE = const(0)  # nothing due yet
BUSY = const(1)  # our request is on the bus
WAIT_BUS = const(2)  # due, but another device has the bus
SAMPLE = const(3)  # new power sample in the Reading
UPDATED = const(4)  # slow values (voltages, energies...) updated
STARTED = const(5)  # start-up finished
TIMEOUT = modbus.TIMEOUT  # the master's failures pass through unchanged
BAD_FRAME = modbus.BAD_FRAME
EXCEPTION = modbus.EXCEPTION
INVALID_VALUE = const(-5)  # NaN, Inf or out of range
WRONG_METER = const(-6)  # start-up plausibility failed

# Targets in the Reading
T_POWER = const(0)
T_P1 = const(1)
_T_P3 = const(3)
T_U1 = const(4)
T_I1 = const(7)
T_FREQ = const(10)
T_IMPORT = const(11)
T_EXPORT = const(12)

# Which transformer ratios scale a field
R_NONE = const(0)
R_CT = const(1)
R_VT = const(2)
R_CTVT = const(3)

_FREQ_MIN_CHZ = const(4000)
_FREQ_MAX_CHZ = const(7000)
MAX_RATIO = const(9999)

STARTUP_CHECK = const(4)  # the last start-up request of every model: the frequency check

_FIELD = const(5)  # ints per field: register offset, target, num, den, ratio
STARTUP_COUNT = const(2)  # registers of the DTSU666's start-up reads
_ALT_EXTRA = const(2)  # the power block's alternate read: one float more
_ILLEGAL_ADDRESS = const(2)
_ALT_REFUSALS = const(3)  # the longer power read refused this often in a row: the meter does not have it


# A model's table (meter_<model>.TABLE): (function code, phases, power is the sum of phases, frequency block
# index, blocks); a block: (register, count, fields); a field: (register offset, target, num, den, ratio).
# value_in_our_unit = float * num / den.
def fields(*fields):
    """One block's fields as one flat tuple (_FIELD ints each)."""
    flat = []
    for field in fields:
        flat.extend(field)
    return tuple(flat)




def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def ratio_scale(num, den, ratio, ct_ratio, vt_ratio10):
    """num/den times the ratios a field needs, reduced; num is 0 if it cannot fit 2**30."""
    if ratio & R_CT:
        num *= ct_ratio
        divisor = _gcd(num, den)
        num //= divisor
        den //= divisor
    if ratio & R_VT:
        den *= 10
        divisor = _gcd(vt_ratio10, den)
        den //= divisor
        factor = vt_ratio10 // divisor
        divisor = _gcd(num, den)
        num //= divisor
        den //= divisor
        if num > LIMIT // factor:
            return 0, 1
        num *= factor
    return num, den


class Meter:
    """One meter on the bus; see the module docstring for the protocol."""

    def __init__(self, *args, **options):
        build("meter_init", "meters", self, args, options)  # boot only: meter_init.py

    def load_model(self, model):
        """Fill the block and field arrays from a model table, applying the current ratios."""
        blocks = model[4]
        field = 0
        for index in range(len(blocks)):
            register, count, fields = blocks[index]
            self._block_reg[index] = register
            self._block_count[index] = count
            self._block_first[index] = field
            for base in range(0, len(fields), _FIELD):
                offset, target, num, den, ratio = fields[base : base + _FIELD]
                num, den = ratio_scale(num, den, ratio, self.ct_ratio, self.vt_ratio10)
                self._field_offset[field] = offset
                self._field_target[field] = target
                self._field_num[field] = num
                self._field_den[field] = den
                field += 1
            self._block_end[index] = field
        self._blocks = len(blocks)
        self.slow_blocks = self._blocks - 1
        self.model = model

    # --- the state machine ----------------------------------------------------
    # Hot path. Each method keeps its frame within 11 words (locals + value
    # stack): a larger bytecode frame is taken from the heap on every call.

    def step(self, now_ms):
        """Advance: start a request, collect an answer or decode it. Returns a status constant."""
        if self._waiting:
            return self._collect(now_ms)
        if self._due_set and ticks_diff(now_ms, self._t_due) < 0:
            return IDLE
        if not self.master.take_turn(self.address, now_ms):
            return WAIT_BUS
        if self.started:
            self._block_request()
        else:
            self._startup_request()
        if not self.master.start_read(self.address, self.fc, self._register, self._count, now_ms, self.late_ms):
            return WAIT_BUS  # an answer to another read of this length may still come (see modbus.py)
        self._sent(now_ms)
        return BUSY

    def _block_request(self):
        self._register = self._block_reg[self._block]
        self._count = self._block_count[self._block]
        if self._block == 0 and self._alternate and self.alternate_ok:
            self._count += _ALT_EXTRA

    def _sent(self, now_ms):
        self._waiting = True
        if self.started and self._block == 0:
            self._t_period = now_ms
            self._alternate = not self._alternate

    def _collect(self, now_ms):
        status = self.master.poll(now_ms)
        if status == modbus.PENDING:
            return BUSY
        self._waiting = False
        if status == modbus.EXCEPTION and self._refused_alternate():
            return BUSY
        if status == modbus.DONE:
            self.ok += 1
        elif status == modbus.EXCEPTION:
            self.exception += 1
            self.exception_code = self.master.exception_code
        elif status == modbus.TIMEOUT:
            self.timeout += 1
        else:
            self.crc += 1
        if not self.started:
            return self._startup_answer(status, now_ms)
        return self._answer(status, now_ms)

    def _refused_alternate(self):
        """The meter refused the longer power read: read the plain one at once (a line fault can look like
        a refusal, so only _ALT_REFUSALS in a row turn the longer read off)."""
        if not self.started or self._block or self.master.exception_code != _ILLEGAL_ADDRESS:
            return False
        if self._count == self._block_count[0]:
            return False
        self._alt_refusals += 1
        if self._alt_refusals >= _ALT_REFUSALS:
            self.alternate_ok = False
        self._due_set = False
        return True

    def _answer(self, status, now_ms):
        block = self._block
        self.answered_block = block
        if status == modbus.DONE and block == 0 and self._count != self._block_count[0]:
            self._alt_refusals = 0
        if status == modbus.DONE:
            status = self._decode(block)
        if block == 0:
            self._power_answer(status, now_ms)
            self._cycle += 1
            if self._blocks > 1 and self._cycle >= self.slow_every:
                self._cycle = 0
                self._block = self._slow_next
                self._slow_next += 1
                if self._slow_next >= self._blocks:
                    self._slow_next = 1
                self._due_set = False
                return status
        elif status == UPDATED:
            self.slow_reads += 1
        self._block = 0
        self._t_due = ticks_add(self._t_period, self.period_ms)
        self._due_set = True
        return status

    def _power_answer(self, status, now_ms):
        reading = self.reading
        if status == SAMPLE:
            reading.seq = (reading.seq + 1) & 0x3FFFFFFF
            reading.t_ms = now_ms
            reading.valid = True
        else:
            reading.valid = False

    def _decode(self, block):
        """Decode the fields of a finished read into the Reading; SAMPLE/UPDATED or INVALID_VALUE."""
        self._base = self.master.offset
        status = SAMPLE if block == 0 else UPDATED
        field = self._block_first[block]
        while field < self._block_end[block]:
            if not self._field(field):
                status = INVALID_VALUE
            field += 1
        if status == INVALID_VALUE:
            self.invalid += 1
        elif block == 0:
            self._totals()
        return status

    def _field(self, field):
        """Decode and store one field; False if its value is not a number we can use."""
        if not self._field_num[field]:
            return True  # the ratios make this field too large to represent: left out
        offset = self._base + 2 * self._field_offset[field]
        value = decode(self._rx, offset, self._field_num[field], self._field_den[field])
        if value == INVALID:
            if self._field_target[field] < T_IMPORT or not is_finite(self._rx, offset):
                return False
            value = LIMIT  # energy beyond 2**30 Wh saturates
        self._store(self._field_target[field], value)
        return True

    def _store(self, target, value):
        reading = self.reading
        if target <= _T_P3:
            if self.invert:
                value = -value
            if target == T_POWER:
                reading.power_dw = value
            else:
                reading.phase_power_dw[target - T_P1] = value
        elif target < T_I1:
            reading.voltage_dv[target - T_U1] = value
        elif target < T_FREQ:
            reading.current_ma[target - T_I1] = value
        elif target == T_FREQ:
            reading.frequency_chz = value
        elif (target == T_IMPORT) != self.invert:
            reading.import_wh = value
        else:
            reading.export_wh = value

    def _totals(self):
        phases = self.reading.phase_power_dw
        if self._sum_phases:
            self.reading.power_dw = phases[0] + phases[1] + phases[2]
        elif self.phases == 1:
            phases[0] = self.reading.power_dw

    # --- start-up ---------------------------------------------------------------

    def _startup_request(self):
        kind = self._startup_plan[self._stage]
        self._register = self._startup_register(kind)
        self._count = self._startup_count(kind)

    def _startup_count(self, kind):
        return self._block_count[self._freq_block]  # STARTUP_CHECK

    def _startup_register(self, kind):
        return self._block_reg[self._freq_block]  # STARTUP_CHECK

    # Start-up runs again every retry_ms while a meter is missing, so these
    # methods keep small frames too (only a successful start-up, which
    # rebuilds the tables, allocates).

    def _startup_answer(self, status, now_ms):
        if status == modbus.EXCEPTION and self.master.exception_code == 1 and self.auto_fc and self._stage == 0:
            # "illegal function": this meter wants the other read function code
            self.auto_fc = False
            self.fc = modbus.FC_READ_INPUT if self.fc == modbus.FC_READ_HOLDING else modbus.FC_READ_HOLDING
            return self._retry_now(status)
        failure = self._startup_stage(self._startup_plan[self._stage], status)
        if failure:
            return self._fail(failure, now_ms)
        self._stage += 1
        if self._stage < len(self._startup_plan):
            self._due_set = False
            return BUSY
        self.started = True
        return STARTED

    def _startup_stage(self, kind, status):
        """Use the answer to start-up request `kind`; 0 to go on, else the failure status."""
        if status != modbus.DONE:
            return status
        return self._check_frequency()

    def _check_frequency(self):
        field = self._block_first[self._freq_block]
        offset = self.master.offset + 2 * self._field_offset[field]
        frequency_chz = decode(self._rx, offset, self._field_num[field], self._field_den[field])
        if frequency_chz < _FREQ_MIN_CHZ or frequency_chz > _FREQ_MAX_CHZ:
            return WRONG_METER
        self.reading.frequency_chz = frequency_chz
        return 0

    def _retry_now(self, status):
        self._stage = 0
        self._due_set = False
        return status

    def _fail(self, status, now_ms):
        """Start-up failed: invalid reading, start over after retry_ms."""
        self.reading.valid = False
        self._stage = 0
        self._t_due = ticks_add(now_ms, self.retry_ms)
        self._due_set = True
        return status


# Per model: the rated maximum current with direct connection (mA); a CT meter's rating is CT_SECONDARY_MA
# times its CT ratio. The driver and register table are meter_<model>.DRIVER and .TABLE; block UI_BLOCK of
# every table holds the voltages and currents. The one list of models: cfg, the tools and lib/control/guard.py
# read it.
MODELS = {
    "ddsu666": 80000,
    "dtsu666": 80000,
    "sdm120": 45000,
    "sdm630": 100000,
}
UI_BLOCK = const(1)
CT_SECONDARY_MA = const(6000)


def create(model, master, address, reading, **options):
    """A driver for `model` (ddsu666, dtsu666, sdm120, sdm630) at `address` on `master`.

    Options: invert=False, fc=None (model default; Chint falls back 03 -> 04),
    ct_ratio=None, vt_ratio=None (override or, DTSU666, read at start-up),
    period_ms=1000, slow_every=5, retry_ms=5000, late_ms=None (the meter's
    slowest answer; None: the master's late_ms).
    Imports meter_<model> (its table) only now: only the configured model's table is built.
    """
    if model not in MODELS:
        raise ValueError("unknown meter model %r (one of %s)" % (model, ", ".join(sorted(MODELS))))
    table = __import__("meter_" + model)
    return table.DRIVER(master, address, reading, table.TABLE, name=model, **options)
