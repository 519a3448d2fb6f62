"""The constructors of the control layer's classes (and other boot-only code): loaded to build one, then dropped.

They run at boot (and for a new inverter list) only: kept in the classes, their bytecode would stay in RAM while
the gateway runs (the firmware's .mpy files are imported into RAM). A class's __init__ calls compat.build, which
imports this module, runs one function and drops it again. Each function is named after its class's module (a
name the firmware interns anyway: every new name costs RAM). Allocates: the buffers and tables are made here.
"""

from array import array

import plausibility
from compat import const, ints
from controller import GRID, LOAD, MODE_STARTING, NO_LIMIT
from failsafe import FailsafePlan
from inverter_model import DONE, NONE, RAMP_MIN_DW_PER_S, InverterModel
from reading import Reading
from supervisor import NO_EVENT, STATE_HEAD, TRIP_NONE

_MAX_STAGE2_EVENTS = const(16)


def controller(
    self,
    fleet,
    export_limit_w=0,
    phase_export_limit_w=None,
    meter_position=GRID,
    failsafe_ms=3000,
    phases=3,
    margin_w=12,
    slow_margin_w_per_s=1,
    trend_pct=100,
    jitter_pct=150,
    cut_spread_w=300,
    ramp_w_per_s=400,
    deadband_w=10,
    min_interval_ms=1000,
    settle_ms=1000,
    response_ms=3000,
    max_response_ms=30000,
    headroom_pct=5,
    headroom_w=30,
    tolerance_pct=3,
    tolerance_w=10,
):
    if meter_position not in (GRID, LOAD):
        raise ValueError("meter_position must be GRID or LOAD")
    if not 1 <= phases <= 3:
        raise ValueError("phases must be 1, 2 (split-phase) or 3")
    count = fleet.count
    for index in range(count):
        if fleet.phase[index] >= phases:
            raise ValueError("inverter %d is on L%d, but the grid has only %s" % (
                index, fleet.phase[index] + 1, ("L1", "L1 and L2 (split-phase)")[phases - 1]))
    self.phases = phases
    self.fleet = fleet
    self.count = count
    self.meter_position = meter_position
    self.grid_meter = meter_position == GRID
    self.failsafe_ms = failsafe_ms
    self.margin_dw = margin_w * 10
    self.trend_pct = trend_pct
    self.jitter_pct = jitter_pct
    self.cut_spread_dw = cut_spread_w * 10
    self.slow_margin_dw_per_s = slow_margin_w_per_s * 10
    self.response_ms = response_ms
    self.deadband_dw = deadband_w * 10
    self.settle_ms = settle_ms
    # The two parts with state of their own: what is learned per inverter, and the fail-safe.
    self.model = InverterModel(fleet, response_ms, max_response_ms, ramp_w_per_s, min_interval_ms,
                               headroom_pct, headroom_w, tolerance_pct, tolerance_w, failsafe_ms + settle_ms)
    self.plan = FailsafePlan(fleet, self.model)
    self.failsafe_dw = self.plan.failsafe_dw
    # Telemetry: the mode, the last estimates (deci-watts) and commands issued.
    self.mode = MODE_STARTING
    self.hold_reason = 0  # nonzero: a check outside the controller holds the fail-safe limits (hold_failsafe)
    self.pv_dw = 0  # PV output the meter saw in the newest sample (estimated)
    self.load_dw = 0  # load behind the meter (estimated on a grid meter)
    self.allowed_dw = 0  # PV total the limits allow now (load + limit - margin)
    self.limit_dw = 0  # total of the limits commanded
    self.expected_dw = 0  # PV total to expect once every command acted
    self.commands = 0
    self.trend_dw_per_s = 0  # the load's recent slope (smoothed, clipped)
    self.jitter_dw = 0  # the load's typical change from one sample to the next (smoothed)
    # Scratch for one regulation pass.
    self.expect_dw = ints(count)  # what each inverter will make once its commands act
    self.touched = bytearray(count)
    self.phase_limit_dw = array("i", (NO_LIMIT, NO_LIMIT, NO_LIMIT))
    self.phase_seen_dw = ints(3)
    self.phase_doubt_dw = ints(3)
    self.phase_expect_dw = ints(3)
    self.phase_need_dw = ints(3)
    self.export_limit_dw = 0
    self._seq = 0
    self._again = True
    self._settled = False
    self._doubt_dw = 0  # how much the load estimate may be too high while commands act
    self._rising_dw = 0
    self._over_dw = 0
    self._best = -1
    self._best_dw = 0
    self._now_ms = 0
    self._sample_ms = 0
    self._dead_max_ms = response_ms
    self._first_pass = False
    self._trend_seq = 0
    self._trend_ms = 0
    self._trend_load_dw = 0
    self._was_settled = False
    self.aim_margin_dw = self.margin_dw
    self.set_export_limit(export_limit_w, phase_export_limit_w)


def inverter_model(self, fleet, response_ms, max_response_ms, ramp_w_per_s, min_interval_ms, headroom_pct,
             headroom_w, tolerance_pct, tolerance_w, keep_ms):
    count = fleet.count
    self.fleet = fleet
    self.count = count
    self.max_response_ms = max_response_ms
    self.min_interval_ms = min_interval_ms
    self.headroom_pct = headroom_pct
    self.headroom_dw = headroom_w * 10
    self.tolerance_pct = tolerance_pct
    self.tolerance_dw = tolerance_w * 10
    self.keep_ms = keep_ms
    self.service_ms = -1  # time the link takes to deliver a command (measured; -1: not yet)
    self.belief = bytearray(count)
    for index in range(count):
        self.belief[index] = DONE
    self.prev_dw = ints(count)  # highest limit maybe in force when the newest was sent
    self.low_dw = ints(count)  # lowest limit maybe in force when the newest was sent
    for index in range(count):
        self.prev_dw[index] = fleet.target_dw[index]
        self.low_dw[index] = fleet.target_dw[index]
    self.ack_ms = ints(count)
    self.effect_ms = ints(count)
    self.dead_ms = ints(count, response_ms)
    self.dead_hi_ms = ints(count, response_ms)  # the longest dead time seen lately (for the fail-safe)
    self.ramp_dw_per_s = ints(count, max(ramp_w_per_s * 10, RAMP_MIN_DW_PER_S))
    self.settle_dw = ints(count)  # how far below a binding limit the output settles
    self.sent_ms = ints(count)
    self.ever_sent = bytearray(count)
    self.clean = bytearray(count)  # the newest command went out while the one before was in force
    self.fails = bytearray(count)  # commands failed in a row (lost acks, or unreachable)
    self.from_dw = ints(count)  # output (taken high) when the newest command went out
    self.avail_dw = ints(count, NONE)  # reported output while PV-bound, or NONE
    self.report_seq = ints(count)
    self.moving_dw = ints(count, NONE)  # the last report while the output moved, or NONE
    self.moving_ms = ints(count)

# -- feedback -------------------------------------------------------------------------------


def supervisor(self, ring, export_limit_w=0, phase_export_limit_w=None, stage2_s=15, trip_s=60,
             stage2_max=2, window_s=600, lockout_s=4 * 3600, stale_ms=3000, phases=3):
    if not 1 <= stage2_max <= _MAX_STAGE2_EVENTS:
        raise ValueError("stage2_max must be 1..%d" % _MAX_STAGE2_EVENTS)
    if not 1 <= phases <= 3:
        raise ValueError("phases must be 1, 2 (split-phase) or 3")
    self.phases = phases
    self.ring = ring
    self.stage2_ms = stage2_s * 1000
    self.trip_ms = trip_s * 1000
    self.stage2_max = stage2_max
    self.window_s = window_s
    self.lockout_s = lockout_s
    self.stale_ms = stale_ms
    self.limit_dw = 0
    self.phase_limit_dw = array("i", (-1, -1, -1))
    self.set_limit(export_limit_w, phase_export_limit_w)
    # Saved state.
    self.clock_s = 0
    self.stage2_total = 0
    self.trips = 0
    self.trip_reason = TRIP_NONE
    self.lockout_left_s = 0
    self.stage2_at_s = array("i", [NO_EVENT] * stage2_max)  # clock_s of recent stage-2 events
    self.commission_left_s = 0  # commissioning: record, never trip
    self.inverters = 1  # how many the plant's limits reach (the firmware sets it); 0: nothing to trip
    # Not saved: an excursion in progress ends with a reboot (the plant restarts in fail-safe).
    self.version = 0
    self.excursions = 0
    self.in_excursion = False
    self.excursion_start_ms = 0
    self.excursion_last_ms = 0  # the last over-limit sample
    self.excursion_peak_dw = 0
    self.noted = 0  # _NOTED_* of the excursion in progress
    self._seq = -1
    self._last_ms = 0
    self._started = False
    self._clock_ms = 0  # milliseconds not yet added to clock_s
    self._lockout_saved_s = 0


def load_from(self, state):
    """Supervisor.load_from."""
    size = self.state_size()
    if len(state) < STATE_HEAD or state[5] != self.stage2_max or not size - 1 <= len(state) <= size:
        raise ValueError("supervisor state does not match stage2_max=%d" % self.stage2_max)
    self.clock_s = state[0]
    self.stage2_total = state[1]
    self.trips = state[2]
    self.trip_reason = state[3]
    self.lockout_left_s = state[4]
    self._lockout_saved_s = state[4]
    for index in range(self.stage2_max):
        self.stage2_at_s[index] = state[STATE_HEAD + index]
    self.commission_left_s = state[size - 1] if len(state) == size else 0


def guard(self, reading, model, ring, controller, supervisor=None, failsafe_ms=3000, phases=3,
             nominal_voltage_v=230):
    """phases: the grid's (1, 2 for split phase, 3); nominal_voltage_v: its phase-to-neutral voltage."""
    from guard import FAILSAFE_METER, max_current_ma  # here: a Fleet or a Controller is built without the meters

    self.reading = reading
    self.model = model
    self.ring = ring
    self.controller = controller
    self.supervisor = supervisor
    self.failsafe_ms = failsafe_ms
    self.plausibility = plausibility.Plausibility(
        max_current_ma(model), phases=phases, nominal_voltage_v=nominal_voltage_v
    )
    self.blind = Reading()  # never valid: what the supervisor sees during an implausible episode
    # Plausibility's view: the reading's own voltage and current arrays, the bracketing powers.
    check = Reading(reading.phases)
    check.voltage_dv = reading.voltage_dv
    check.current_ma = reading.current_ma
    self._check = check
    self._before_dw = array("i", (0, 0, 0))
    self._ui_read = False  # voltages and currents arrived; check at the next power sample
    self.implausible = False
    self.implausible_episodes = 0
    self.checks = 0
    self.meter_losses = 0
    self._meter_state = 0  # guard._NEVER
    self._mode = MODE_STARTING
    self.failsafe_reason = FAILSAFE_METER  # why not regulating (FAILSAFE_REASONS), 0 while regulating


def fleet(self, count):
    self.count = count
    self.rated_dw = ints(count)
    self.min_dw = ints(count)
    self.phase = bytearray(count)  # 0, 1, 2 = L1, L2, L3
    self.inputs = bytearray(count)
    self.can_switch_off = bytearray(count)
    self.target_dw = ints(count)
    self.rank = bytearray(count)  # of the queued command: higher goes first
    self.cmd_state = bytearray(count)
    self.cmd_t_ms = ints(count)
    self.output_dw = ints(count)
    self.output_t_ms = ints(count)
    self.output_seq = ints(count)  # reports received; 0 = none yet


def failsafe(self, fleet, model):
    count = fleet.count
    self.fleet = fleet
    self.model = model  # the InverterModel: response times and the link's delivery time
    self.count = count
    self.failsafe_dw = ints(count)
    self.phase_spent_dw = ints(3)
    self.switch_seen = bytearray(count)  # fleet.can_switch_off as the plan knows it
    self.interval_ms = 0  # the meter's usual sample interval (learned; 0: not yet)
    self.lead_ms = 0  # how long before the deadline the hold starts (from the last lead())
    self._spent_dw = 0
    self._limit_dw = -1
    self._phase_limit_dw = None
    self._seq = 0
    self._held_seq = -1  # the sample the hold started on: held until a newer one arrives
    self._sample_ms = 0
    self._slowest_ms = 0  # the longest dead time among the inverters to command (lead())
