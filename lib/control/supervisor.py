"""G100-style supervision of export excursions, with counters that survive power loss.

Watches the grid meter's export against the export limit, independently of the
controller: this is the evidence an installer shows the grid operator, so it
must hold even if the controller misbehaves.

- An excursion starts with the first sample whose export exceeds the limit
  (total, or a phase over its own limit) and ends with the first sample back
  under it. Its duration runs from the first over-limit sample to the first
  sample back under, as the meter saw them.
- While the meter is lost (invalid data, or no sample for `stale_ms`) export
  cannot be measured; the controller holds the fail-safe limits then, which
  keep export under the limit by construction. An excursion in progress ends
  at its last over-limit sample, and the meter loss is logged by the firmware.
- An excursion longer than `stage2_s` is a stage-2 event.
- A trip happens when an excursion reaches `trip_s`, or when `stage2_max`
  stage-2 events fall within `window_s`. A trip holds the plant at the
  fail-safe limits (the firmware reads `tripped`) for `lockout_s`, or until an
  installer calls `reset()`.

Commissioning. `commission(seconds, now_ms)` opens a window (`commission_left_s`,
counted down in powered time like the lockout) in which excursions and
stage-2 events are recorded and logged as usual but never trip: a trip that
would happen is logged once per excursion as TRIP_HELD, and stage-2 events
are not remembered for the trip window. It ends by itself (COMMISSION with
a = 0); an excursion still going on then ends there, and one that goes on
starts afresh, so the installer gets `trip_s` to act. With no inverters
(`inverters` = 0, set by the firmware from its inverter list) a trip is
impossible in the same way: it would hold nothing back; when inverters are
added the firmware calls `restart_excursion()`, so they too get `trip_s`.
Commissioning does not end a lockout (`reset` does).

Time. The supervisor keeps its own clock, `clock_s`: seconds of powered time,
advanced from tick differences and restored from the saved state at boot. So
the stage-2 window and the lockout continue across a reboot, and time spent
powered off does not count. That only errs towards tripping and towards a
longer lockout, the safe side.

Persistence. `save_into(state)` / `load_from(state)` fill or read a small
array of ints. `version` grows whenever something worth saving changed (an
event, a trip, a reset, the end of a lockout, and every `LOCKOUT_SAVE_S`
during a lockout), so the firmware saves only then and spares the flash.
The commissioning time left is saved too (at its start and end and every
minute): a commissioning survives the resets it needs (meter settings act
after `cfg.save()` and a reset), and at most a minute of it is repeated
after a power cut. A state saved before commissioning existed (one int
shorter) loads with none.

Event times: every event is stamped with the time of the step that pushes
it (an excursion when it is found to have ended, not its first sample), so
the ring, and the log, are in time order.

Split-phase: with `phases=2` (legs L1 and L2) a limit given for L3 does not
apply; the meter's unused L3 reads about 0 W, and its noise must not count
as an excursion. The total is the meter's, L1 + L2.

Timing and memory: `step` is O(stage2_max) small-int work, no allocation.
Only a grid-side meter measures export at the connection point; on a
load-side meter the firmware does not run the supervisor.
"""


import events
from compat import build, const, ticks_diff

TRIP_NONE = const(0)
TRIP_LONG_EXCURSION = const(1)
TRIP_STAGE2_EVENTS = const(2)

LOCKOUT_SAVE_S = const(600)
_COMMISSION_SAVE_S = const(60)
_HELD_COMMISSIONING = const(1)  # TRIP_HELD's b: why no trip
_HELD_NO_INVERTERS = const(2)
_NOTED_STAGE2 = const(1)  # `noted` bits: what this excursion already counted
_NOTED_TRIP = const(2)
NO_EVENT = const(-1)
STATE_HEAD = const(6)


class Supervisor:
    def __init__(self, *args, **options):
        build("control_init", "supervisor", self, args, options)  # boot only: control_init.py

    @property
    def tripped(self):
        return self.lockout_left_s > 0

    def set_limit(self, export_limit_w, phase_export_limit_w=None):
        self.limit_dw = export_limit_w * 10
        for phase in range(3):
            unused = phase_export_limit_w is None or phase >= self.phases
            limit_w = -1 if unused else phase_export_limit_w[phase]
            self.phase_limit_dw[phase] = -1 if limit_w < 0 else limit_w * 10

    def over_limit_dw(self, reading):
        """How far the reading's export is above the limit (total or worst phase), in dW; <= 0 when under."""
        over = -reading.power_dw - self.limit_dw
        for phase in range(reading.phases):
            limit = self.phase_limit_dw[phase]
            if limit >= 0:
                phase_over = -reading.phase_power_dw[phase] - limit
                if phase_over > over:
                    over = phase_over
        return over

    def step(self, now_ms, reading):
        """Advance the clock and, on a new valid sample, the excursion state machine."""
        self._advance_clock(now_ms)
        if not reading.valid or reading.seq == self._seq:
            if self.in_excursion and (
                not reading.valid or ticks_diff(now_ms, self.excursion_last_ms) > self.stale_ms
            ):
                self._end_excursion(self.excursion_last_ms)
            return
        self._seq = reading.seq
        over = self.over_limit_dw(reading)
        if over > 0:
            self._over(reading.t_ms, over)
        elif self.in_excursion:
            self._end_excursion(reading.t_ms)

    def reset(self, now_ms):
        """Installer reset: end a lockout and forget recent stage-2 events."""
        self.lockout_left_s = 0
        self.trip_reason = TRIP_NONE
        for index in range(self.stage2_max):
            self.stage2_at_s[index] = NO_EVENT
        self.in_excursion = False
        self.ring.push(events.RESET, now_ms)
        self.version += 1

    def commission(self, commission_left_s, now_ms):
        """Open (or end, with 0) the commissioning window: excursions are recorded but never trip."""
        if commission_left_s == 0:
            self.restart_excursion()
        self.commission_left_s = commission_left_s
        self.ring.push(events.COMMISSION, now_ms, commission_left_s)
        self.version += 1

    def restart_excursion(self):
        """End an excursion in progress (logged): one that goes on starts afresh at the next sample, so trips
        count from now (commissioning over, inverters added: they get `trip_s` to act)."""
        if self.in_excursion:
            self._end_excursion(self.excursion_last_ms)

    def _advance_clock(self, now_ms):
        if not self._started:
            self._started = True
            self._last_ms = now_ms
            return
        elapsed_ms = ticks_diff(now_ms, self._last_ms)
        self._last_ms = now_ms
        if elapsed_ms <= 0:
            return
        self._clock_ms += elapsed_ms
        seconds = self._clock_ms // 1000
        if seconds == 0:
            return
        self._clock_ms -= seconds * 1000
        self.clock_s += seconds
        left_s = self.commission_left_s
        if left_s > 0:
            self.commission_left_s = max(0, left_s - seconds)
            if self.commission_left_s == 0:
                self.restart_excursion()
                self.ring.push(events.COMMISSION, now_ms, 0)
                self.version += 1
            elif self.commission_left_s // _COMMISSION_SAVE_S != left_s // _COMMISSION_SAVE_S:
                self.version += 1  # saved every minute
        if self.lockout_left_s > 0:
            self.lockout_left_s = max(0, self.lockout_left_s - seconds)
            if self.lockout_left_s == 0:
                self.trip_reason = TRIP_NONE
                self.ring.push(events.LOCKOUT_ENDED, now_ms)
                self.version += 1
            elif self._lockout_saved_s - self.lockout_left_s >= LOCKOUT_SAVE_S:
                self._lockout_saved_s = self.lockout_left_s
                self.version += 1

    def _over(self, t_ms, over_dw):
        self.excursion_last_ms = t_ms
        if not self.in_excursion:
            self.in_excursion = True
            self.excursion_start_ms = t_ms
            self.excursion_peak_dw = over_dw
            self.noted = 0
            return
        if over_dw > self.excursion_peak_dw:
            self.excursion_peak_dw = over_dw
        duration_ms = ticks_diff(t_ms, self.excursion_start_ms)
        if duration_ms > self.stage2_ms and not self.noted & _NOTED_STAGE2:
            self._count_stage2(duration_ms)
        if duration_ms >= self.trip_ms and not self.tripped:
            self._trip(TRIP_LONG_EXCURSION)

    def _end_excursion(self, t_ms):
        self.in_excursion = False
        duration_ms = ticks_diff(t_ms, self.excursion_start_ms)
        self.excursions += 1
        if duration_ms > self.stage2_ms and not self.noted & _NOTED_STAGE2:
            self._count_stage2(duration_ms)
        self.ring.push(events.EXCURSION, self._last_ms, self.excursion_peak_dw, duration_ms)

    # The stage-2 bookkeeping is split into small functions on purpose: a
    # frame larger than MicroPython's on-stack limit is heap-allocated per call.
    def _count_stage2(self, duration_ms):
        self.noted |= _NOTED_STAGE2
        self.stage2_total += 1
        self.version += 1
        self.ring.push(events.STAGE2, self._last_ms, self.excursion_peak_dw, duration_ms)
        if self.commission_left_s > 0 or not self.inverters:
            return  # recorded, but not for the trip window
        self._remember_stage2()
        if self._recent_stage2() >= self.stage2_max and not self.tripped:
            self._trip(TRIP_STAGE2_EVENTS)

    def _remember_stage2(self):
        """Keep the newest stage2_max event times: overwrite the oldest."""
        times = self.stage2_at_s
        oldest = 0
        for index in range(1, self.stage2_max):
            if times[index] < times[oldest]:
                oldest = index
        times[oldest] = self.clock_s

    def _recent_stage2(self):
        times = self.stage2_at_s
        recent = 0
        for index in range(self.stage2_max):
            if times[index] != NO_EVENT and self.clock_s - times[index] <= self.window_s:
                recent += 1
        return recent

    def _trip(self, reason):
        held = _HELD_COMMISSIONING if self.commission_left_s > 0 else 0 if self.inverters else _HELD_NO_INVERTERS
        if held:
            if not self.noted & _NOTED_TRIP:  # once per excursion
                self.noted |= _NOTED_TRIP
                self.ring.push(events.TRIP_HELD, self._last_ms, reason, held)
            return
        self.trips += 1
        self.trip_reason = reason
        self.lockout_left_s = self.lockout_s
        self._lockout_saved_s = self.lockout_s
        self.version += 1
        self.ring.push(events.TRIP, self._last_ms, reason)

    def state_size(self):
        return STATE_HEAD + self.stage2_max + 1

    def save_into(self, state):
        """Write the state worth keeping into `state` (a list or array of ints, state_size() long)."""
        state[0] = self.clock_s
        state[1] = self.stage2_total
        state[2] = self.trips
        state[3] = self.trip_reason
        state[4] = self.lockout_left_s
        state[5] = self.stage2_max
        for index in range(self.stage2_max):
            state[STATE_HEAD + index] = self.stage2_at_s[index]
        state[STATE_HEAD + self.stage2_max] = self.commission_left_s

    def load_from(self, state):
        """Restore what save_into wrote (or the same less commissioning); another shape raises ValueError.
        In control_init.py: it runs at boot only."""
        build("control_init", "load_from", self, (state,), {})
