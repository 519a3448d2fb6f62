"""controller.Controller's constructor: a module of its own, loaded to build one, then dropped (compat.build).

It runs at boot (and for a new inverter list) only, so its bytecode need not stay in RAM while the gateway runs
(the firmware's .mpy files are imported into RAM). Allocates: the tables are made here.
"""

from array import array

from compat import ints
from controller import GRID, LOAD, MODE_STARTING, NO_LIMIT
from failsafe import FailsafePlan
from inverter_model import InverterModel


def init(
    self,
    fleet,
    export_limit_w=0,
    phase_export_limit_w=None,
    meter_position=GRID,
    failsafe_ms=3000,
    phases=3,
    margin_w=12,
    slow_margin_w_per_s=2,
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
