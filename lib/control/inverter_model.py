"""What the controller believes and learns about each inverter, from the link's feedback alone.

Per inverter: the fate of its newest command (pending until acknowledged,
then acting until it is believed in force, then done); its dead time (from
the acknowledgement until the output starts to follow a cut); its ramp rate
(from two output reports taken while the output moves); so a command is
believed in force its dead time plus the ramp time of its step after the
acknowledgement; how far below a binding limit it settles; whether it is PV-bound
(reported clearly less than its limit); how many of its commands failed in a
row. And for the link: how long it takes to deliver one command. Everything is
learned from acknowledgements (`fleet.cmd_state`), output reports
(`fleet.output_dw`) and the controller's own commands: never from a plant
parameter. The controller is configured only with what an installer knows
(rating, inputs, phase) and starting values (`response_ms`, `ramp_w_per_s`).

Jitter: an inverter's dead time varies from command to command, so the
learned dead time is an upper envelope: a slower response raises it at once (a
command is never believed in force before it is), a faster one lowers it by a
sixteenth of the difference (quick commands do not make the next slow one
trusted too early).

Device notes: arrays are preallocated here; every method is a few small-int
operations on them, allocation-free, with frames small enough to stay on the
C stack (see the note in controller.py).
"""

from compat import build, const, ticks_add, ticks_diff
from fleet import CMD_ACKED, CMD_FAILED

# What the controller believes about the newest command of an inverter.
PENDING = const(0)  # queued or sent, not acknowledged: the old limit is in force
ACTING = const(1)  # acknowledged: in force from `effect_ms` on
DONE = const(2)  # in force for longer than any sample the controller may still use

NONE = const(-1)  # no PV-bound report: the inverter makes what its limit allows
_UNREACHABLE_FAILS = const(2)  # failures in a row after which an inverter is not counted on
_DEAD_STEP_MS = const(1000)  # how much a late response lengthens the learned dead time
_DEAD_MIN_MS = const(1000)  # the shortest dead time learned (a cloud can mimic a fast response)
_SERVICE_CREEP_MS = const(100)  # how fast the measured delivery time may grow per command
_RETRY_DOUBLINGS = const(6)  # a failed command is retried at most 64 x min_interval_ms apart
RAMP_MIN_DW_PER_S = const(50)  # 5 W/s: the slowest ramp learned
_LATE_REPORT_MS = const(2000)  # a report this long after a sample still bounds what it saw
_HUGE_MS = const(0x3FFFFFFF)  # no report that bounds a sample


class InverterModel:
    """Beliefs and learned responses of the inverters of `fleet` (see the module notes).

    response_ms / max_response_ms: the starting and the largest dead time (and the
    longest any command is believed to take);
    ramp_w_per_s: the starting ramp rate; min_interval_ms: least time between two
    commands to one inverter; headroom_pct / headroom_w: how far above its
    reported output a PV-bound inverter may be raised; tolerance_pct /
    tolerance_w: how far below its limit an output must be to count as PV-bound;
    keep_ms: how long after it acted a command still matters to a sample.
    """

    def __init__(self, *args, **options):
        build("control_init", "inverter_model", self, args, options)  # boot only: control_init.py

    def follow(self, index, now_ms):
        """An acknowledgement starts the dead time; an output report teaches PV-bound output,
        settling, ramp and dead time; a command acted long enough ago is done."""
        if self.belief[index] == PENDING and self.fleet.cmd_state[index] == CMD_ACKED:
            self._acked(index)
        elif self.belief[index] == ACTING and ticks_diff(now_ms, self.effect_ms[index]) > self.keep_ms:
            self.belief[index] = DONE  # no sample we may still use predates it
        if self.fleet.output_seq[index] != self.report_seq[index]:
            self.report_seq[index] = self.fleet.output_seq[index]
            self._learn(index, self.fleet.output_dw[index], self.fleet.output_t_ms[index])

    def _acked(self, index):
        """The dead time starts; the delivery time is the quickest recent one (commands queued behind
        others take longer), creeping up if deliveries get slower."""
        self.ack_ms[index] = self.fleet.cmd_t_ms[index]
        self.fails[index] = 0
        self._start(index)
        took_ms = max(ticks_diff(self.ack_ms[index], self.sent_ms[index]), 0)
        self.service_ms = took_ms if self.service_ms < 0 else min(took_ms, self.service_ms + _SERVICE_CREEP_MS)

    def _start(self, index):
        """Believed in force the dead time plus the ramp time of its step after the acknowledgement."""
        # In force once within the tolerance of the new limit.
        step_dw = max(abs(self.fleet.target_dw[index] - self.from_dw[index]) - self.tolerance(index), 0)
        self.effect_ms[index] = ticks_add(self.ack_ms[index], self.dead_ms[index] + self._ramp_ms(index, step_dw))
        self.belief[index] = ACTING

    def _ramp_ms(self, index, step_dw):
        return min(step_dw * 100 // (self.ramp_dw_per_s[index] // 10), self.max_response_ms)

    def _cut_effect(self, index, output, report_ms):
        """A cut believed in force whose output is still above it: in force once the rest is ramped
        (postponed). One whose output is at it already: in force from the report on (the limits
        before it are gone, so they no longer hold back raises while the learned dead time runs)."""
        output -= self.fleet.target_dw[index]
        if output > self.tolerance(index):
            if self.in_force(index, report_ms):
                self.effect_ms[index] = ticks_add(report_ms, self._ramp_ms(index, output) + _DEAD_STEP_MS)
                self.belief[index] = ACTING
        elif not self.in_force(index, report_ms):
            self.effect_ms[index] = report_ms

    def _learn(self, index, output, report_ms):
        if self.fleet.output_seq[index] == 1 and self.ever_sent[index] and (
                output < self.from_dw[index] - self.tolerance(index)):
            # The first report, after a command that went out without one, shows less than assumed:
            # the output moves from this one (or, if it moves already, a little more).
            self.from_dw[index] = output
        elif self.belief[index] != PENDING and self.ever_sent[index]:
            since_ms = ticks_diff(report_ms, self.ack_ms[index])
            # Only a cut below the output of the time is checkable: the output must follow it.
            if 0 <= since_ms <= 2 * self.max_response_ms and (
                    self.from_dw[index] > self.fleet.target_dw[index] + self.tolerance(index)):
                self._learn_ramp(index, output, report_ms)
                if since_ms <= self.max_response_ms:
                    self._learn_dead(index, output, since_ms)
                self._cut_effect(index, output, report_ms)
            if self.from_dw[index] < self.fleet.target_dw[index]:
                report_ms = ticks_add(report_ms, -1000)  # a raise may ramp a little longer
        # Only an output under a limit surely in force tells whether PV is short, or one clearly
        # under every limit that may be in force.
        if self.in_force(index, report_ms):
            self._learn_bound(index, output)
        elif output + self.tolerance(index) < min(self.low_dw[index], self.fleet.target_dw[index]):
            self.avail_dw[index] = output

    def _learn_bound(self, index, output):
        """PV-bound (clearly under its limit), or bound by the limit: then learn how far below it
        the output settles (within the tolerance, so a slightly PV-bound output cannot teach much)."""
        target = self.fleet.target_dw[index]
        if output + self.tolerance(index) < target:
            self.avail_dw[index] = output
            return
        self.avail_dw[index] = NONE
        below = min(max(target - output, 0), self.tolerance(index))
        self.settle_dw[index] += (below - self.settle_dw[index]) // 4

    def _learn_dead(self, index, output, since_ms):
        """A cut's output that has not moved yet: the dead time is longer than `since_ms` (even if
        the cut followed one not yet in force: the output has not moved since before either); one
        that moved (or arrived), after a cut sent while the one before was in force: at most `since_ms`."""
        if output >= self.from_dw[index] - self.tolerance(index):
            if since_ms >= self.dead_ms[index]:  # not moving yet: slower than we thought
                self.dead_ms[index] = min(since_ms + _DEAD_STEP_MS, self.max_response_ms)
                self.dead_hi_ms[index] = max(self.dead_hi_ms[index], self.dead_ms[index])
                self._start(index)
        elif self.clean[index] and since_ms < self.dead_ms[index]:  # moving already: faster than we thought
            self._faster(index, max(since_ms, _DEAD_MIN_MS))
            if self.belief[index] == ACTING:
                self._start(index)

    def _faster(self, index, dead_ms):
        """A sixteenth of the way down to a shorter dead time; the longest seen fades slowly too (the
        fail-safe plans for the slow commands). Dead times are drawn anew for each command (an
        HM-1500: 12.6-27 s), and a command believed in force too early makes a raise look acted
        and a report of the old output look short of sun: the estimate has to stay near the slow
        end of the draws, not follow the quick ones. A slower draw raises it at once; it takes
        about five quick draws in a row to come down by a quarter of the gap (a high quantile of
        recent draws, in integers, with no history kept)."""
        self.dead_ms[index] -= (self.dead_ms[index] - dead_ms) // 16
        self.dead_hi_ms[index] -= (self.dead_hi_ms[index] - self.dead_ms[index]) // 16

    def _learn_ramp(self, index, output, report_ms):
        """Two reports while the output moves down towards a cut give its ramp rate."""
        if output <= self.fleet.target_dw[index] + self.tolerance(index) or output >= self.from_dw[index]:
            self.moving_dw[index] = NONE  # not moving (yet, or any more)
            return
        took_ms = ticks_diff(report_ms, self.moving_ms[index])
        if self.moving_dw[index] != NONE and self.moving_dw[index] > output and 0 < took_ms <= 30000:
            self._ramp((self.moving_dw[index] - output) * 100 // (took_ms // 10 + 1), index)
        self.moving_dw[index] = output
        self.moving_ms[index] = report_ms

    def _ramp(self, rate, index):
        """Half way towards a measured rate (at most twice the learned one: a report that caught
        the end of a ramp must not double it)."""
        ramp = self.ramp_dw_per_s[index]
        rate = min(rate, 2 * ramp)
        self.ramp_dw_per_s[index] = max(ramp + (rate - ramp) // 2, RAMP_MIN_DW_PER_S)

    # -- commands -------------------------------------------------------------------------------

    def note_command(self, index, now_ms):
        """Book-keeping for a command the controller is about to queue."""
        if self.fleet.cmd_state[index] == CMD_FAILED and self.fails[index] < 255:
            self.fails[index] += 1
        # Only a command sent while the one before it was in force times the inverter's response.
        self.clean[index] = 1 if self.in_force(index, now_ms) else 0
        self.from_dw[index] = self.seen_at(index, now_ms)
        self.prev_dw[index] = self.highest_at(index, now_ms)
        self.low_dw[index] = self.fleet.target_dw[index] if self.clean[index] else min(
            self.fleet.target_dw[index], self.low_dw[index])
        self.belief[index] = PENDING
        self.sent_ms[index] = now_ms
        self.ever_sent[index] = 1
        self.moving_dw[index] = NONE

    def failed_and_due(self, index, now_ms):
        """A failed command is sent again, after an interval that doubles with each failure in a
        row (up to 64 times `min_interval_ms`): an unreachable inverter does not hog the link."""
        return self.fleet.cmd_state[index] == CMD_FAILED and ticks_diff(
            now_ms, self.sent_ms[index]
        ) >= self.min_interval_ms << min(self.fails[index], _RETRY_DOUBLINGS)

    def interval_passed(self, index, now_ms):
        return not self.ever_sent[index] or ticks_diff(now_ms, self.sent_ms[index]) >= self.min_interval_ms

    def unreachable(self, index):
        """Its commands do not arrive: counted at what it may still make, not commanded."""
        return self.fails[index] >= _UNREACHABLE_FAILS

    def unsettled(self, index, sample_ms, settle_ms):
        """Whether the newest command may not have acted `settle_ms` before the sample. An inverter
        whose commands keep failing does not hold back the others' raises."""
        if self.unreachable(index):
            return False
        belief = self.belief[index]
        return belief == PENDING or (belief == ACTING and ticks_diff(sample_ms, self.effect_ms[index]) < settle_ms)

    def doubt(self, index):
        """How far apart the limits that may be in force are while the newest command acts."""
        target = self.fleet.target_dw[index]
        return max(self.prev_dw[index], target) - min(self.low_dw[index], target)

    def rising(self, index, t_ms):
        """Before a raise is believed in force at `t_ms` (a sample's time): how much it may add to
        what the meter saw, less what a report taken after its acknowledgement and before `t_ms`
        shows it added already (a slow inverter's raise often acts well before it is believed
        to). Once believed in force, the meter shows it: it adds nothing."""
        fleet = self.fleet
        target = fleet.target_dw[index]
        if target <= self.prev_dw[index] or self.in_force(index, t_ms):
            return 0
        low = min(self.low_dw[index], target)
        if self._report_after_ms(index, t_ms) <= 0:
            low = max(low, min(fleet.output_dw[index], target))
        return target - low

    # -- what it makes --------------------------------------------------------------------------

    def in_force(self, index, t_ms):
        """Whether the newest command is believed in force at `t_ms`."""
        belief = self.belief[index]
        return belief == DONE or (belief == ACTING and ticks_diff(t_ms, self.effect_ms[index]) >= 0)

    def highest_at(self, index, t_ms):
        """The highest limit that may be in force at `t_ms`: the newest, or while it may not have
        acted yet, the highest of it and those before."""
        if self.in_force(index, t_ms):
            return self.fleet.target_dw[index]
        return max(self.fleet.target_dw[index], self.prev_dw[index])

    def seen_at(self, index, t_ms):
        """The output the meter saw at `t_ms`, taken as high as it may have been: the load is then
        never underestimated, so a command that acted sooner than believed cannot look like a load
        drop and trigger a needless cut, nor a cut still on its way be cut again."""
        limit = self.highest_at(index, t_ms)
        avail = self.avail_dw[index]
        if avail != NONE and avail < limit:
            return avail
        return limit - min(self.settle_dw[index], limit)

    def seen_bound_at(self, index, t_ms):
        """`seen_at`, bounded by a report taken after a cut's acknowledgement: the output only
        moves down towards the cut, so a report before `t_ms` bounds it from above (the load is
        then not taken too high for the whole ramp of a slow inverter). So does one taken just
        after `t_ms` (the poll and the sample cross), plus what the learned ramp takes off in
        between: the old limit instead would lift the load estimate by most of the cut."""
        seen = self.seen_at(index, t_ms)
        late_ms = self._report_after_ms(index, t_ms)
        if self.fleet.target_dw[index] < self.prev_dw[index] and late_ms <= _LATE_REPORT_MS:
            return min(seen, max(self.fleet.output_dw[index], self.fleet.target_dw[index]) + max(
                late_ms, 0) // 10 * self.ramp_dw_per_s[index] // 100)
        return seen

    def _report_after_ms(self, index, t_ms):
        """How long after `t_ms` the newest output report was taken (negative: before it), if
        it was taken after the acting command's acknowledgement and that before `t_ms`; else
        _HUGE_MS (also before the first report: its time is not a tick)."""
        report_ms = self.fleet.output_t_ms[index]
        if self.belief[index] != ACTING or not self.fleet.output_seq[index] or ticks_diff(
                t_ms, self.ack_ms[index]) < 0 or ticks_diff(report_ms, self.ack_ms[index]) < 0:
            return _HUGE_MS
        return ticks_diff(report_ms, t_ms)

    def expected(self, index, target, grid_meter):
        """What the inverter makes once `target` is in force. A grid meter sees more PV at once, so
        a PV-bound inverter counts at its output there; a load meter cannot, so it counts the limit."""
        avail = self.avail_dw[index]
        if grid_meter and avail != NONE and avail < target:
            return avail
        return target

    def ceiling(self, index):
        """The highest useful limit: the rating, or a little above a PV-bound output (no wind-up)."""
        rated = self.fleet.rated_dw[index]
        avail = self.avail_dw[index]
        if avail == NONE:
            return rated
        return min(rated, avail + max(self.headroom_dw, rated // 100 * self.headroom_pct))

    def tolerance(self, index):
        return max(self.tolerance_dw, self.fleet.rated_dw[index] // 100 * self.tolerance_pct)
