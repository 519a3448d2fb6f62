"""The export controller: from meter samples to inverter limits, in fixed point.

Each `step()` estimates the load behind the meter (grid reading plus the PV
output the meter saw at the moment of the sample), derives the PV total the
export limit allows (`load + limit - margin`, in total and per phase) and
compares it with what the limits already commanded will let the inverters
make. Too much: it cuts at once, the whole excess, on as few inverters as
possible but spread so that no inverter ramps a big cut alone (down fast).
Room to spare: it raises only when every command has had time to act and a
sample taken after that shows the room (up carefully).

What the meter saw is modelled per inverter (lib/control/inverter_model.py):
a command is believed in force a learned response time after its
acknowledgement (so a slow inverter is not cut twice; until then the higher of
the old and new limits is assumed), and an inverter that reported less than
its limit is PV-bound, counted at its reported output (anchoring: its limit is
never wound up while clouds hold it back). When samples stop, the fail-safe
limits (lib/control/failsafe.py), whose total cannot export more than the
limit whatever the load, are sent early enough to be in force `failsafe_ms`
after the last fresh sample, and held. docs/CONTROLLER.md explains why.

Device notes: `step()` is integer-only and allocates nothing (arrays and
flags are preallocated here and in the two helpers); its cost is a few passes
over the inverter table (at worst quadratic in the number of inverters when a
change is spread over many), whatever the time elapsed between calls. All
powers are deci-watts; limits up to 2**30 / 10 W, documented as up to 1 MW per
plant.
"""

from compat import build, const, ticks_diff
from fleet import CMD_FAILED
from inverter_model import PENDING

# Where the meter sits: at the grid connection (it measures import - export)
# or on the house's consumption (it measures the load; PV is not behind it).
GRID = const(0)
LOAD = const(1)

# `Controller.mode`, for telemetry.
MODE_STARTING = const(0)  # no valid sample yet since start: fail-safe limits
MODE_FAILSAFE = const(1)  # the sample is stale or invalid: fail-safe limits
MODE_REGULATING = const(2)

NO_LIMIT = const(-1)  # a per-phase (or total) export limit that does not apply

# `touched`: what happened to an inverter in this step.
_CONSIDERED = const(1)  # given its share without a change
_COMMANDED = const(2)  # commanded: a later change in the same step replaces that command

_HUGE_DW = const(0x3FFFFFFF)  # an unreachable cap (no limit), within the small-int range
_STEP_DW = const(1000)  # 100 W between samples: a load switching, neither trend nor jitter
_TREND_CLIP_DW_PER_S = const(500)  # 50 W/s: the steepest trend counted
_TREND_HORIZON_MS = const(5000)  # the farthest a falling load is extrapolated


class Controller:
    """Keeps export at `export_limit_w` (and per-phase limits) by setting inverter limits.

    phases: the phases (legs) the grid has: 3, 2 for a split-phase grid (legs L1 and L2; the
    meter's L3 is unused) or 1. Every inverter must sit on one of them (ValueError otherwise),
    and per-phase limits beyond them do not apply. Phase limits are per leg in split-phase; the
    total is L1 + L2, as the meter sums it.

    Tuning keywords (all integers; defaults suit Hoymiles HM on a 1 s meter): docs/CONTROLLER.md
    has the table and the reasons. failsafe_ms is the time after the last fresh sample by which
    the fail-safe limits are in force, as far as the learned delivery and dead times allow.
    """

    def __init__(self, *args, **options):
        build("control_init", "controller", self, args, options)  # boot only: control_init.py

    # -- configuration --------------------------------------------------------------------------

    def set_export_limit(self, export_limit_w, phase_export_limit_w=None):
        """New limits (W; -1 = none), in force from the next step: the fail-safe table follows.

        A limit on a phase the grid does not have (L3 in split-phase) does not apply: that phase
        reads 0 W, and a limit there would only hold back the others."""
        self.export_limit_dw = NO_LIMIT if export_limit_w < 0 else export_limit_w * 10
        for phase in range(3):
            unused = phase_export_limit_w is None or phase >= self.phases
            limit_w = NO_LIMIT if unused else phase_export_limit_w[phase]
            self.phase_limit_dw[phase] = NO_LIMIT if limit_w < 0 else limit_w * 10
        self.plan.plan(self.export_limit_dw, self.phase_limit_dw)
        self._again = True

    # -- the step -------------------------------------------------------------------------------
    # MicroPython keeps a call's frame on the C stack only while locals plus operand stack stay
    # within 11 slots; beyond that every call allocates it on the heap. Hence the small
    # functions below, which keep their state in attributes and arrays rather than in locals.

    def step(self, now_ms, reading):
        """One control period: returns the number of commands issued (see the module notes)."""
        before = self.commands
        self._now_ms = now_ms
        self._follow_all()
        if self.plan.stale():
            self.plan.plan(self.export_limit_dw, self.phase_limit_dw)
        if reading.valid:
            self.plan.follow_sample(reading)
        if self.hold_reason or not reading.valid or self._stale(now_ms, reading):
            if self.mode == MODE_REGULATING:
                self.mode = MODE_FAILSAFE
            self._hold_failsafe()
            return self.commands - before
        if self.mode != MODE_REGULATING:
            self.mode = MODE_REGULATING
            self._again = True
        if reading.seq != self._seq or self._again:
            self._seq = reading.seq
            self._regulate(reading)
        return self.commands - before

    def _follow_all(self):
        model = self.model
        for index in range(self.count):
            model.follow(index, self._now_ms)

    def _stale(self, now_ms, reading):
        return self.plan.due(reading.seq, ticks_diff(now_ms, reading.t_ms), self.failsafe_ms)

    def hold_failsafe(self, reason):
        """Hold the fail-safe limits whatever the meter says while `reason` is nonzero (a plausibility
        verdict, a supervisor lockout: the caller's code); 0 releases the hold. Called in the tick, before step()."""
        self.hold_reason = reason

    def _hold_failsafe(self):
        """Command the fail-safe limits (all at once: the link delivers them one after the other),
        and again any whose command failed and is due."""
        for index in range(self.count):
            if self.fleet.target_dw[index] != self.failsafe_dw[index] or self.model.failed_and_due(index, self._now_ms):
                self._command(index, self.failsafe_dw[index])
        self.limit_dw = self._total_target()
        self._again = True  # regulate on the first good sample even if its seq was seen

    def _regulate(self, reading):
        self._again = False
        self._settled = True
        self._doubt_dw = 0
        self._rising_dw = 0  # raises that may not be in force: half of them counts as excess
        self._dead_max_ms = self.response_ms
        self._sample_ms = reading.t_ms
        self._zero_phases()
        for index in range(self.count):
            self._survey(index)
        self.pv_dw = self.phase_seen_dw[0] + self.phase_seen_dw[1] + self.phase_seen_dw[2]
        self.expected_dw = self.phase_expect_dw[0] + self.phase_expect_dw[1] + self.phase_expect_dw[2]
        # What the limits allow: the load behind the meter plus the export limit, less the margin.
        self.load_dw = reading.power_dw + self.pv_dw if self.grid_meter else reading.power_dw
        if reading.seq != self._trend_seq:
            self._trend_seq = reading.seq
            self._follow_trend()
        self.aim_margin_dw = self._aim_margin()
        self.allowed_dw = _allowance(self.load_dw, self.export_limit_dw, self.aim_margin_dw)
        self._over_dw = self.expected_dw - self.allowed_dw + self._rising_dw // 2  # down fast
        cut = self._over_dw > self.aim_margin_dw // 2
        for phase in range(3):
            # A phase without PV to cut (no inverter there) cannot need a cut, whatever its limit.
            if self._phase_need(phase, reading.phase_power_dw[phase]) > self.aim_margin_dw // 2 and (
                self.phase_expect_dw[phase] > 0
            ):
                cut = True
        if cut:
            self._cut(self._over_dw)
        else:
            self._raise(self._room())
        self.limit_dw = self._total_target()

    def _room(self):
        """Room for a raise. Unsettled, the load estimate may be too high by what the acting
        commands change: room beyond that is real, and used at once if it is a load switching on
        (100 W or more); anything less waits until the commands acted."""
        room = self.allowed_dw - self.expected_dw - self._falling_dw()
        if self._settled:
            return room
        room -= self._doubt_dw
        return room if room >= _STEP_DW else 0

    def _aim_margin(self):
        """The margin to aim at: more than the load's usual jitter between samples, and more where a
        slow inverter cannot correct an excess for a long time."""
        margin = max(self.margin_dw, self.jitter_dw * self.jitter_pct // 100)
        return margin + (self._dead_max_ms - self.response_ms) * self.slow_margin_dw_per_s // 1000

    def _falling_dw(self):
        """How far a falling load will fall before a cut could act: raises leave that much room."""
        if self.trend_dw_per_s >= 0:
            return 0
        horizon_ms = min(self._dead_max_ms + self.model.service_ms, _TREND_HORIZON_MS)
        return -self.trend_dw_per_s * (horizon_ms // 100) // 10 * self.trend_pct // 100

    def _follow_trend(self):
        """Smooth the load's slope and its jitter (typical change) over the last samples. A change
        of more than 100 W is an appliance switching, handled by the law at once: it counts for
        neither. Nor do samples taken while a command acts: the estimate then follows beliefs."""
        took_ms = ticks_diff(self._sample_ms, self._trend_ms)
        self._trend_ms = self._sample_ms
        change = self.load_dw - self._trend_load_dw
        self._trend_load_dw = self.load_dw
        # Only two samples taken with every command in force compare loads, not beliefs.
        steady = self._settled and self._was_settled
        self._was_settled = self._settled
        if steady and 0 < took_ms <= 5000 and -_STEP_DW <= change <= _STEP_DW:
            slope = max(-_TREND_CLIP_DW_PER_S, min(_TREND_CLIP_DW_PER_S, change * 1000 // took_ms))
            self.trend_dw_per_s += (slope - self.trend_dw_per_s) // 4
            self.jitter_dw += (abs(change) - self.jitter_dw) // 8

    def _zero_phases(self):
        for phase in range(3):
            self.phase_doubt_dw[phase] = 0
            self.phase_seen_dw[phase] = 0
            self.phase_expect_dw[phase] = 0

    def _survey(self, index):
        """Re-send a failed command; add the output seen at the sample and the output to expect.

        Clears `_settled` unless the newest command acted `settle_ms` before the sample, and adds
        what that command changes to `_doubt_dw`.
        """
        model = self.model
        self.touched[index] = 0
        if model.dead_ms[index] > self._dead_max_ms:
            self._dead_max_ms = model.dead_ms[index]
        if self.fleet.cmd_state[index] == CMD_FAILED and model.belief[index] == PENDING:
            self._again = True
            if model.failed_and_due(index, self._now_ms):
                self._command(index, self.fleet.target_dw[index])
        if model.unsettled(index, self._sample_ms, self.settle_ms):
            self._doubt(index)
        self.phase_seen_dw[self.fleet.phase[index]] += model.seen_bound_at(index, self._sample_ms)
        if model.unreachable(index):
            # Its commands do not arrive: expect what it may still make, not what was asked.
            self._expect(index, model.highest_at(index, self._now_ms))
        else:
            self._expect(index, self.fleet.target_dw[index])
        self.phase_expect_dw[self.fleet.phase[index]] += self.expect_dw[index]

    def _doubt(self, index):
        doubt = self.model.doubt(index)
        self._rising_dw += self.model.rising(index, self._sample_ms)
        self._settled = False
        self._doubt_dw += doubt
        self.phase_doubt_dw[self.fleet.phase[index]] += doubt

    def _phase_need(self, phase, reading_dw):
        """How far the phase's expected PV exceeds what its limit allows (negative: room)."""
        load = reading_dw + self.phase_seen_dw[phase] if self.grid_meter else reading_dw
        need = self.phase_expect_dw[phase] - _allowance(load, self.phase_limit_dw[phase], self.aim_margin_dw)
        self.phase_need_dw[phase] = need
        return need

    def _cut(self, over):
        """Cut each phase's excess, then what remains of the total's, on as few inverters as possible."""
        for phase in range(3):
            if self.phase_need_dw[phase] > 0:
                over -= self.phase_need_dw[phase] - self._cut_where(phase, self.phase_need_dw[phase])
        if over > 0:
            self._cut_where(-1, over)

    def _cut_where(self, phase, amount):
        """Cut `amount` on `phase` (-1: any), largest reducible first; returns what is left.

        A first pass takes at most `_spread_dw()` from each inverter, so that a big cut ramps down
        on several inverters at once instead of on one at its ramp rate; a second pass takes the
        rest wherever it is left. A small cut thus costs one command, a big one a few. Then, at
        the limit, PV-bound limits far above their output are tightened.
        """
        self._first_pass = True
        while amount > 0 and self._pick_cut(phase) >= 0:
            step = min(self._best_dw, amount, self._spread_dw())
            self._set(self._best, self.expect_dw[self._best] - step)
            amount -= step
        self._first_pass = False
        while amount > 0 and self._pick_cut(phase) >= 0:
            step = min(self._best_dw, amount)
            self._set(self._best, self.expect_dw[self._best] - step)
            amount -= step
        if amount > 0:
            amount = self._switch_off(phase, amount)
        if amount > 0:
            self._again = True  # a later step may reach inverters that were commanded too recently
        for index in range(self.count):
            self._tighten(index, phase)
        return amount

    def _tighten(self, index, phase):
        """At the limit, a PV-bound inverter's limit far above its output is export waiting for the
        clouds to clear: bring it down to a little above its output (no output is lost)."""
        ceiling = self.model.ceiling(index)
        if self._eligible(index, phase) and self.fleet.target_dw[index] > ceiling + self.deadband_dw:
            self._set(index, ceiling)

    def _spread_dw(self):
        """Most of a cut for the inverter picked (`_best`): what it ramps in two command deliveries
        at its learned rate, at least `cut_spread_w`. A slow link makes each extra inverter cost a
        delivery time, so the cut is spread less; a fast one spreads it more, so no inverter
        ramps long alone."""
        service_ms = min(max(self.model.service_ms, 0), 10000)
        return max(self.cut_spread_dw, self.model.ramp_dw_per_s[self._best] // 50 * (service_ms // 10))

    def _switch_off(self, phase, amount):
        """Everything at its minimum and still too much: switch off where the link can."""
        for index in range(self.count):
            if amount > 0 and self._can_switch_off(index, phase):
                amount -= self.expect_dw[index]
                self._set(index, 0)
        return amount

    def _pick_cut(self, phase):
        """The inverter on `phase` (-1: any) that can give most above its minimum, or -1."""
        self._best = -1
        self._best_dw = 0
        for index in range(self.count):
            if self._eligible(index, phase):
                self._consider(index, self.expect_dw[index] - self.fleet.min_dw[index])
        return self._best

    def _eligible(self, index, phase):
        """On `phase` and free to command: in the first pass of a cut, not yet cut in this step;
        in the second, also those (their command is still queued, a new target replaces it)."""
        if (phase >= 0 and self.fleet.phase[index] != phase) or self.model.unreachable(index):
            return False
        if self.touched[index]:
            return not self._first_pass
        return self.model.interval_passed(index, self._now_ms)

    def _can_switch_off(self, index, phase):
        return self.expect_dw[index] > 0 and self.fleet.can_switch_off[index] and self._eligible(index, phase)

    def _raise(self, room):
        """Give `room` to the inverters with the most headroom, within each phase's room."""
        for phase in range(3):
            # Now: the room left on each phase, beyond what acting commands may change there.
            self.phase_need_dw[phase] = -self.phase_need_dw[phase] - self.phase_doubt_dw[phase]
        while room >= self.deadband_dw:
            best = self._pick_raise()
            if best < 0:
                break
            self.touched[best] = _CONSIDERED
            gain = min(self._best_dw, room)
            if gain >= self.deadband_dw and (self.fleet.target_dw[best] > 0 or gain >= self.fleet.min_dw[best]):
                self._set(best, self.fleet.target_dw[best] + gain)
                room -= gain
                self.phase_need_dw[self.fleet.phase[best]] -= gain

    def _pick_raise(self):
        """The untouched inverter that can take most (within its phase's room), or -1."""
        self._best = -1
        self._best_dw = 0
        for index in range(self.count):
            if not self.touched[index] and not self.model.unreachable(index) and self.model.interval_passed(
                    index, self._now_ms):
                self._consider(index, self._gain(index))
        return self._best

    def _consider(self, index, amount_dw):
        if amount_dw > self._best_dw:
            self._best = index
            self._best_dw = amount_dw

    def _gain(self, index):
        gain = min(self.model.ceiling(index) - self.fleet.target_dw[index], self.phase_need_dw[self.fleet.phase[index]])
        if self.fleet.target_dw[index] == 0 and gain < self.fleet.min_dw[index]:
            return 0  # switched off: back on only at its minimum or more
        return gain

    # -- per-inverter helpers ---------------------------------------------------------------------

    def _set(self, index, target):
        """Command `target`, clamped to what the inverter accepts (0 only where it can switch off)."""
        fleet = self.fleet
        if target <= 0 and fleet.can_switch_off[index]:
            target = 0
        else:
            target = min(max(target, fleet.min_dw[index]), fleet.rated_dw[index])
        self._expect(index, target)
        if self.touched[index] == _COMMANDED:
            fleet.command(index, target, self._now_ms)  # replaces the one queued in this step
        elif target != fleet.target_dw[index] or fleet.cmd_state[index] == CMD_FAILED:
            self._command(index, target)
        else:
            self.touched[index] = _CONSIDERED

    def _expect(self, index, target):
        self.expect_dw[index] = self.model.expected(index, target, self.grid_meter)

    def _command(self, index, target):
        self.model.note_command(index, self._now_ms)
        self.touched[index] = _COMMANDED
        self.commands += 1
        self.fleet.rank[index] = min(255, max(0, self.fleet.target_dw[index] - target) >> 6)  # the largest cut first
        self.fleet.command(index, target, self._now_ms)

    def _total_target(self):
        total = 0
        for index in range(self.count):
            total += self.fleet.target_dw[index]
        return total


def _allowance(load_dw, limit_dw, margin_dw):
    """PV the limit allows with this load (huge where no limit applies)."""
    if limit_dw < 0:
        return _HUGE_DW
    return load_dw + limit_dw - margin_dw
