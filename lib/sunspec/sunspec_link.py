"""The Fleet link for SunSpec inverters on an RS485 bus: limits out, AC power back.

    link = SunSpecLink(master, fleet, ((0, 3), (1, 4)))   # (fleet row, Modbus address) per inverter
    status = link.step(now_ms)                             # every firmware tick; never blocks

Each `step()` does at most one thing on the bus: collect the answer of the
running transaction, or start the next one, in this order of priority:
1. a limit the controller queued (`fleet.next_queued()`): written at once,
   reported `sent`, then `acked` or `failed`;
2. discovery of an inverter whose map is not known yet (lib/sunspec/sunspec.py),
   retried every `retry_ms` after a failure;
3. the heartbeat: the limit in force is written again every third of
   `revert_s`, so the inverter's own revert timer never runs out while the
   gateway is alive and does run out when it is not;
4. the AC power (model 101-103 W and W_SF, or 111-113 float32 W), every
   `output_period_ms` per inverter, reported with `fleet.report_output()`.

The limit is a percentage of the inverter's WMax (model 121; model 120
WRtg where 121 does not implement it), rounded to the resolution of its
scale factor. With model 123 one FC16 writes WMaxLimPct, WinTms = 0,
RvrtTms = revert_s, RmpTms = 0 and WMaxLim_Ena = 1 in one block. With model
704 one FC16 writes WMaxLimPctEna = 1, WMaxLimPct, WMaxLimPctRvrt (the value
the inverter falls back to, `failsafe_pct10` tenths of a percent),
WMaxLimPctRvrtEna and WMaxLimPctRvrtTms. On revert a model 123 inverter
drops the limit (full power unless its own fallback is configured), a 704
inverter applies WMaxLimPctRvrt: see docs/SUNSPEC.md. `revert_s=0` writes no
revert timer and sends no heartbeat.

After `fail_limit` failed transactions in a row an inverter is rediscovered
(it may have restarted or been replaced, and forgotten its limit); once it
is found again, the newest limit is written at once. A limit queued while
the map is still being discovered waits for it, so the fail-safe limits at
boot are the first thing written; once discovery has failed (the map is
broken) a queued limit is reported `failed` at once.

Sharing a bus: the link takes turns with the meter drivers through
`master.take_turn()`, like lib/meter/meters.py.

Late answers: after an unanswered request the master keeps the bus quiet
for `late_ms` (the inverters' slowest answer; None: the master's) and
drains what arrives, so a late answer is never taken for the next
request's (see lib/meter/modbus.py). A discovery read that fails ends
discovery (BROKEN, retried after `retry_ms`), so a walk never continues on
an answer that may be someone else's.

Timing and allocation: step() is a few hundred bytecodes at most (about
20 us per transaction on a PC's unix port, see bench/bench_sunspec.py) and
allocates nothing: discovery, power reads, limit writes and heartbeats alike
(the master makes its FC16 request view once per length, at the first write).
The bus time dominates: a power read is 17.7 ms and a 123 limit write 28.1 ms
on the wire at 9600 baud.
"""

from array import array

import modbus
import sunspec
from compat import const, ints, ticks_add, ticks_diff
from f32 import decode
from fleet import CMD_QUEUED
from sunspec import INVALID, limit_value, signed16, to_dw

# step() results
IDLE = const(0)  # nothing due
BUSY = const(1)  # our transaction is on the bus
WAIT_BUS = const(2)  # something is due, another device has the bus
WRITTEN = const(3)  # a limit was written (command or heartbeat)
OUTPUT = const(4)  # an AC power was reported
DISCOVERING = const(5)  # a discovery read finished; see the map's phase
READY = const(6)  # an inverter's map is complete
FAILED = const(-1)  # a transaction failed (counted in `failures`)
BAD_VALUE = const(-2)  # an AC power "not implemented" or out of range

_JOB_NONE = const(0)
_JOB_DISCOVER = const(1)
_JOB_COMMAND = const(2)
_JOB_HEARTBEAT = const(3)
_JOB_OUTPUT = const(4)
_FC_READ_HOLDING = const(3)  # modbus.FC_READ_HOLDING

# SunSpecLink.written
_NEVER = const(0)  # no limit written yet: the inverter runs as it was (the controller commands first)
_WRITTEN = const(1)
_REAPPLY = const(2)  # the inverter was found again after a loss: write the limit at once


class SunSpecLink:
    def __init__(
        self,
        master,
        fleet,
        units,
        revert_s=60,
        failsafe_pct10=0,
        output_period_ms=1000,
        retry_ms=10000,
        fail_limit=5,
        can_switch_off=True,
        late_ms=None,
    ):
        if not 0 <= revert_s <= 0xFFFF or not 0 <= failsafe_pct10 <= 1000:
            raise ValueError("revert_s must be 0..65535 and failsafe_pct10 0..1000")
        self.master = master
        self.fleet = fleet
        self.count = len(units)
        self.row = bytearray(self.count)  # fleet row of each unit
        self.maps = []
        for unit, (row, address) in enumerate(units):
            self.row[unit] = row
            self.maps.append(sunspec.SunSpecMap(address))
            fleet.can_switch_off[row] = 1 if can_switch_off else 0
        self._token = self.maps[0].address if self.count else 0
        self.revert_s = revert_s
        self.refresh_ms = revert_s * 1000 // 3
        self.failsafe_pct10 = failsafe_pct10
        self.output_period_ms = output_period_ms
        self.retry_ms = retry_ms
        self.fail_limit = fail_limit
        self.late_ms = -1 if late_ms is None else late_ms  # the inverters' slowest answer (-1: the master's)
        self.written = bytearray(self.count)  # _NEVER, _WRITTEN or _REAPPLY
        self.write_ms = ints(self.count)  # when the limit was last written successfully
        self.output_ms = ints(self.count)  # when the AC power was last asked for
        self.retry_at_ms = ints(self.count)  # discovery may start again from here
        self.streak = ints(self.count)  # failed transactions in a row
        self.writes = ints(self.count)
        self.heartbeats = ints(self.count)
        self.failures = ints(self.count)
        self.bad_values = ints(self.count)
        self._block123 = array("H", bytes(2 * sunspec.CONTROLS_BLOCK))
        self._block704 = array("H", bytes(2 * sunspec.DER_BLOCK))
        self._block = self._block123
        self._job = _JOB_NONE
        self._unit = 0
        self._turn = 0
        self._next = 0  # round-robin start for periodic work
        self._address = 0
        self._register = 0
        self._count = 0

    # --- the state machine ----------------------------------------------------------
    # Hot path. Each method keeps its frame within 11 words (locals + value
    # stack): a larger bytecode frame is taken from the heap on every call.
    # What a transaction is about lives in attributes (_job, _unit, _address,
    # _register, _count), not in locals.

    def step(self, now_ms):
        """Collect or start one transaction; returns a status constant."""
        if self._job != _JOB_NONE:
            return self._collect(now_ms)
        job = self._pick(now_ms)
        if job == _JOB_NONE:
            return IDLE
        if not self.master.take_turn(self._token, now_ms):
            return WAIT_BUS
        return self._start(job, now_ms)

    def _pick(self, now_ms):
        """The most urgent job (its unit in `_unit`), or _JOB_NONE."""
        if self._pick_command(now_ms):
            return _JOB_COMMAND
        self._turn = 0
        while self._turn < self.count:
            self._unit = (self._next + self._turn) % self.count
            job = self._periodic(self._unit, now_ms)
            if job != _JOB_NONE:
                self._next = (self._unit + 1) % self.count
                return job
            self._turn += 1
        return _JOB_NONE

    def _pick_command(self, now_ms):
        self._unit = 0
        while self._unit < self.count:
            if self.fleet.cmd_state[self.row[self._unit]] == CMD_QUEUED:
                phase = self.maps[self._unit].phase
                if phase == sunspec.READY:
                    return True
                if phase == sunspec.BROKEN:
                    self._refuse(self.row[self._unit], now_ms)
            self._unit += 1
        return False

    def _refuse(self, row, now_ms):
        """Taken, and failed: discovery failed (the controller sees it at once)."""
        self.fleet.sent(row, now_ms)
        self.fleet.failed(row, now_ms)

    def _periodic(self, unit, now_ms):
        phase = self.maps[unit].phase
        if phase != sunspec.READY:
            if phase == sunspec.BROKEN:
                if ticks_diff(now_ms, self.retry_at_ms[unit]) < 0:
                    return _JOB_NONE
                self.maps[unit].reset()
            return _JOB_DISCOVER
        if self.written[unit] == _REAPPLY:
            return _JOB_HEARTBEAT
        if self.refresh_ms and self.written[unit] and ticks_diff(now_ms, self.write_ms[unit]) >= self.refresh_ms:
            return _JOB_HEARTBEAT
        if ticks_diff(now_ms, self.output_ms[unit]) >= self.output_period_ms:
            return _JOB_OUTPUT
        return _JOB_NONE

    def _start(self, job, now_ms):
        self._plan(job, self.maps[self._unit])
        if not self._request(job, now_ms):
            return WAIT_BUS  # an answer to another request of this length may still come (see modbus.py)
        self._job = job
        if job == _JOB_OUTPUT:
            self.output_ms[self._unit] = now_ms
        elif job == _JOB_COMMAND:
            self.fleet.sent(self.row[self._unit], now_ms)
        return BUSY

    def _request(self, job, now_ms):
        if job == _JOB_DISCOVER or job == _JOB_OUTPUT:
            return self.master.start_read(
                self._address, _FC_READ_HOLDING, self._register, self._count, now_ms, self.late_ms
            )
        return self.master.start_write_multiple(self._address, self._register, self._block, now_ms, self.late_ms)

    def _plan(self, job, info):
        self._address = info.address
        if job == _JOB_DISCOVER:
            info.plan()
            self._register = info.register
            self._count = info.count
        elif job == _JOB_OUTPUT:
            self._register = info.output_reg
            self._count = 2
        else:
            self._register = info.limit_reg
            self._fill(info, limit_value(self.fleet.target_dw[self.row[self._unit]], info.wmax_dw, info.limit_sf))

    def _fill(self, info, value):
        """The control block to write: WMaxLimPct `value` and the revert settings."""
        if info.limit_model == sunspec.CONTROLS:
            block = self._block123
            block[0] = value  # WMaxLimPct
            block[2] = self.revert_s  # WMaxLimPct_RvrtTms (WinTms, RmpTms stay 0)
            block[4] = 1  # WMaxLim_Ena
        else:
            block = self._block704
            block[0] = 1  # WMaxLimPctEna
            block[1] = value
            block[2] = (self.failsafe_pct10 * info.full_scale + 500) // 1000  # WMaxLimPctRvrt
            block[3] = 1 if self.revert_s else 0  # WMaxLimPctRvrtEna
            block[5] = self.revert_s  # WMaxLimPctRvrtTms, low word of the uint32
        self._block = block

    # --- answers ----------------------------------------------------------------------

    def _collect(self, now_ms):
        status = self.master.poll(now_ms)
        if status == modbus.PENDING:
            return BUSY
        job = self._job
        self._job = _JOB_NONE
        if status != modbus.DONE:
            return self._failed(job, now_ms)
        self.streak[self._unit] = 0
        if job == _JOB_DISCOVER:
            return self._discovered(self._unit, now_ms)
        if job == _JOB_OUTPUT:
            return self._output(now_ms)
        return self._written(job, now_ms)

    def _written(self, job, now_ms):
        unit = self._unit
        self.write_ms[unit] = now_ms
        self.written[unit] = _WRITTEN
        if job == _JOB_COMMAND:
            self.writes[unit] += 1
            self.fleet.acked(self.row[unit], now_ms)
        else:
            self.heartbeats[unit] += 1
        return WRITTEN

    def _failed(self, job, now_ms):
        unit = self._unit
        self.failures[unit] += 1
        self.streak[unit] += 1
        if job == _JOB_DISCOVER:
            self.maps[unit].fail()
        elif job == _JOB_COMMAND:
            self.fleet.failed(self.row[unit], now_ms)
        if self.maps[unit].phase == sunspec.READY and self.streak[unit] >= self.fail_limit:
            self.maps[unit].reset()  # lost or restarted: find the map again
            self.streak[unit] = 0
        if self.maps[unit].phase == sunspec.BROKEN:
            self.retry_at_ms[unit] = ticks_add(now_ms, self.retry_ms)
        return FAILED

    def _discovered(self, unit, now_ms):
        info = self.maps[unit]
        info.answer(self.master)
        if info.phase == sunspec.BROKEN:
            self.retry_at_ms[unit] = ticks_add(now_ms, self.retry_ms)
        elif info.phase == sunspec.READY:
            if self.written[unit]:  # found again (restarted?): put the limit back at once
                self.written[unit] = _REAPPLY
            self.output_ms[unit] = ticks_add(now_ms, -self.output_period_ms)  # read the power at once
            return READY
        return DISCOVERING

    def _output(self, now_ms):
        if self.maps[self._unit].float_values:
            output_dw = self._float_output()
        else:
            output_dw = self._int_output()
        if output_dw == INVALID:
            self.bad_values[self._unit] += 1
            return BAD_VALUE
        # A few watts drawn at night are no production: the fleet's outputs are never negative.
        self.fleet.report_output(self.row[self._unit], output_dw if output_dw > 0 else 0, now_ms)
        return OUTPUT

    def _int_output(self):
        raw = self.master.register(0)
        if raw == sunspec.INT16_NOT_IMPLEMENTED:
            return INVALID
        return to_dw(signed16(raw), signed16(self.master.register(1)))

    def _float_output(self):
        return decode(self.master.rx, self.master.offset, 10, 1)  # f32.INVALID is sunspec.INVALID
