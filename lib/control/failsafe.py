"""Fail-safe planning: which limits hold export within the limits whatever the load, and when to
start sending them so that they are in force by the deadline.

The plan gives each inverter its minimum, switches off where the link can and
the limits still require it, then shares what the limits leave up to each
rating: the plan's PV alone cannot export more than the total and per-phase
export limits. It is made when the limits are set and when a link changes
which inverters it can switch off.

The deadline: the fail-safe limits must be *in force* (delivered and past the
inverters' dead time) `failsafe_ms` after the last fresh meter sample.
Getting there takes one command delivery per inverter not yet at its
fail-safe limit (one radio: they queue) plus the longest dead time, both
learned (lib/control/inverter_model.py). So the hold starts that long before
the deadline, but never while samples still arrive on time: not before a
sample is overdue (the meter's usual longest interval, learned, plus a grace).

Device notes: allocation-free like the step (small functions, totals in
attributes and arrays preallocated here).
"""

from compat import build, const, ticks_diff

_HUGE_DW = const(0x3FFFFFFF)  # an unreachable cap (no limit), within the small-int range
_OVERDUE_GRACE_MS = const(100)  # a sample this late after the usual interval is overdue
_INTERVAL_MAX_MS = const(60000)  # the longest sample interval learned


def exceeds(spent_dw, limit_dw):
    return limit_dw >= 0 and spent_dw > limit_dw


def room(spent_dw, limit_dw):
    if limit_dw < 0:
        return _HUGE_DW
    return limit_dw - spent_dw


class FailsafePlan:
    """The fail-safe limits of `fleet` (`failsafe_dw`) and when to start holding them."""

    def __init__(self, *args, **options):
        build("control_init", "failsafe", self, args, options)  # boot only: control_init.py

    # -- the plan -------------------------------------------------------------------------------

    def plan(self, limit_dw, phase_limit_dw):
        """Limits whose PV alone cannot export more than the limits: minimums, off, then the rest."""
        self._limit_dw = limit_dw
        self._phase_limit_dw = phase_limit_dw
        self._plan()

    def _plan(self):
        self._spent_dw = 0
        for phase in range(3):
            self.phase_spent_dw[phase] = 0
        for index in range(self.count):
            self.switch_seen[index] = self.fleet.can_switch_off[index]
            self.failsafe_dw[index] = 0
            self._give(index, self.fleet.min_dw[index])
        for index in range(self.count):
            if self.fleet.can_switch_off[index] and self._over_budget(self.fleet.phase[index]):
                self._give(index, 0)
        for index in range(self.count):
            self._give_rest(index)

    def stale(self):
        """Whether a link changed which inverters it can switch off since the plan was made."""
        for index in range(self.count):
            if self.fleet.can_switch_off[index] != self.switch_seen[index]:
                return True
        return False

    def _give_rest(self, index):
        """Give inverter `index` (unless off) what the limits leave, up to its rating."""
        left = self._budget_left(index)
        if self.failsafe_dw[index] > 0 and left > 0:
            self._give(index, self.failsafe_dw[index] + left)

    def _give(self, index, limit_dw):
        change = limit_dw - self.failsafe_dw[index]
        self.failsafe_dw[index] = limit_dw
        self._spent_dw += change
        self.phase_spent_dw[self.fleet.phase[index]] += change

    def _over_budget(self, phase):
        return exceeds(self._spent_dw, self._limit_dw) or exceeds(
            self.phase_spent_dw[phase], self._phase_limit_dw[phase])

    def _budget_left(self, index):
        """What inverter `index` may still get: up to its rating, within the total and its phase."""
        phase = self.fleet.phase[index]
        left = min(self.fleet.rated_dw[index] - self.failsafe_dw[index], room(self._spent_dw, self._limit_dw))
        return min(left, room(self.phase_spent_dw[phase], self._phase_limit_dw[phase]))

    # -- when to hold ---------------------------------------------------------------------------

    def follow_sample(self, reading):
        """Learn the meter's usual interval: the longest recent one, fading by an eighth of the
        difference with each shorter one. A driver that interleaves slower reads (voltages,
        energies) or waits out a late answer spaces its samples unevenly; taking the shortest
        interval as the rhythm would call every longer gap overdue and flap into the fail-safe."""
        if reading.seq == self._seq:
            return
        took_ms = ticks_diff(reading.t_ms, self._sample_ms)
        if self._seq and 0 < took_ms <= _INTERVAL_MAX_MS:
            interval_ms = self.interval_ms
            self.interval_ms = took_ms if took_ms >= interval_ms else interval_ms - (interval_ms - took_ms) // 8
        self._seq = reading.seq
        self._sample_ms = reading.t_ms

    def due(self, seq, age_ms, failsafe_ms):
        """Whether sample `seq`, `age_ms` old, must give way to the fail-safe limits now: when
        waiting one more sample interval would leave less than the lead time before the deadline.
        Once it gave way, it stays so until a newer sample arrives."""
        if seq == self._held_seq or age_ms > failsafe_ms:
            self._held_seq = seq
            return True
        if not self.interval_ms or age_ms <= self.interval_ms + _OVERDUE_GRACE_MS:
            return False  # samples still arrive on time (or their rhythm is not known yet)
        if age_ms >= failsafe_ms - self.lead() - self.interval_ms:
            self._held_seq = seq
            return True
        return False

    def lead(self):
        """The time to put the fail-safe limits in force: a delivery per inverter not at its
        fail-safe limit, then the longest dead time seen lately among them."""
        self.lead_ms = 0
        self._slowest_ms = 0
        for index in range(self.count):
            if self.fleet.target_dw[index] != self.failsafe_dw[index]:
                self._add_lead(index)
        self.lead_ms += self._slowest_ms
        return self.lead_ms

    def _add_lead(self, index):
        self.lead_ms += max(self.model.service_ms, 0)
        self._slowest_ms = max(self._slowest_ms, self.model.dead_hi_ms[index])
