"""The checks around the controller: meter plausibility, meter health, the export supervisor, fail-safe events.

    guard = Guard(reading, "dtsu666", ring, controller, supervisor)   # supervisor: None with a load-side meter
    # in the tick, in this order:
    status = guard.meter_step(meter, now_ms)   # the meter's poll, the plausibility verdict, meter health
    guard.before_control(now_ms)               # steps the supervisor, tells the controller what holds it
    controller.step(now_ms, reading)
    guard.after_control(now_ms)                # FAILSAFE_ENTERED (with the reason) / FAILSAFE_LEFT

The meter driver alone writes `Reading.valid`. What the guard finds reaches the
controller through one explicit input, `controller.hold_failsafe(reason)`:
FAILSAFE_IMPLAUSIBLE while the meter sends values a healthy meter cannot,
FAILSAFE_TRIP while the supervisor's lockout holds, 0 otherwise. The
controller's own reason, a missing or stale reading, is FAILSAFE_METER.
`failsafe_reason` says, after every tick, why the controller is not
regulating (an index into FAILSAFE_REASONS; 0 while it regulates; the
meter's reason also while it starts, before the first sample).

Plausibility (lib/meter/plausibility.py) needs voltages and currents, which the
drivers read in a slow register block (meters.UI_BLOCK of every model), every
few power samples; power is read every sample. A check of a fresh power
against currents read seconds earlier would flag every load step, so the
check runs once per voltage/current read, at the next power sample, with
each phase's power taken as the smaller in magnitude of the samples just
before and just after that read: a healthy meter's power at the moment of
the current read lies between them whenever the power moved one way. A
failed check starts an implausible episode (one IMPLAUSIBLE event) that holds
the fail-safe limits until a later check passes. Before the first
voltage/current read nothing is checked. The maximum current is the model's
rating from meters.MODELS, or CT_SECONDARY_MA times the CT ratio the driver
uses once it started.

Meter health: the meter is "up" while its reading is valid and younger than
`failsafe_ms`; METER_LOST and METER_BACK are pushed on the edges (not for the
first sample after boot). An implausible episode is not a lost meter: it has
its own event. The supervisor (lib/control/supervisor.py) watches export at the
grid connection; during an implausible episode it is given `blind`, a reading
that is never valid, so it treats the meter as lost rather than counting
impossible values as export.

Timing and allocation: a few attribute reads and compares per tick, one
plausibility check (a few dozen bytecodes per phase) per voltage/current
read; nothing allocates after the meter's start-up. Every method keeps its
frame within MicroPython's 11-word on-stack limit.
"""


import events
import meters
import plausibility
from compat import build, const, ticks_diff
from controller import MODE_FAILSAFE, MODE_REGULATING

FAILSAFE_METER = const(1)  # no valid meter data younger than failsafe_ms (the controller's own reason)
FAILSAFE_IMPLAUSIBLE = const(2)  # the meter sends values a healthy meter cannot
FAILSAFE_TRIP = const(3)  # the supervisor tripped: lockout
# The one name table of the fail-safe reasons (status, page, telemetry, event log).
FAILSAFE_REASONS = ("", "meter data missing", "implausible meter data", "supervisor trip (lockout)")

_NEVER = const(0)
_UP = const(1)
_LOST = const(2)


def max_current_ma(model, ct_ratio=1):
    """The highest current a healthy meter of `model` can report, primary side, in mA."""
    rated_ma = meters.MODELS[model] if ct_ratio <= 1 else meters.CT_SECONDARY_MA * ct_ratio
    return min(rated_ma, plausibility.MAX_CURRENT_MA)


class Guard:
    def __init__(self, *args, **options):
        build("control_init", "guard", self, args, options)  # boot only: control_init.py
    # --- in the tick -----------------------------------------------------------------------

    def meter_step(self, meter, now_ms):
        """One poll of the grid meter's driver, then the plausibility verdict and the meter's health."""
        status = meter.step(now_ms)
        if status == meters.SAMPLE:
            if self._ui_read:
                self._run_check(now_ms)
        elif status == meters.UPDATED and meter.answered_block == meters.UI_BLOCK:
            self._before(self.reading.phase_power_dw)
        elif status == meters.STARTED:
            self.plausibility.max_current_ma = max_current_ma(self.model, meter.ct_ratio)
        self._health(now_ms)
        return status

    def before_control(self, now_ms):
        """Step the supervisor, and hold the controller at the fail-safe limits while a lockout or an
        implausible episode lasts."""
        supervisor = self.supervisor
        if supervisor is not None:
            supervisor.step(now_ms, self.blind if self.implausible else self.reading)
            if supervisor.lockout_left_s > 0:
                self.controller.hold_failsafe(FAILSAFE_TRIP)
                return
        self.controller.hold_failsafe(FAILSAFE_IMPLAUSIBLE if self.implausible else 0)

    def after_control(self, now_ms):
        """Set failsafe_reason; push FAILSAFE_ENTERED (with the reason) and FAILSAFE_LEFT on the mode edges."""
        controller = self.controller
        mode = controller.mode
        self.failsafe_reason = 0 if mode == MODE_REGULATING else controller.hold_reason or FAILSAFE_METER
        if mode == self._mode:
            return
        if mode == MODE_FAILSAFE:
            self.ring.push(events.FAILSAFE_ENTERED, now_ms, self.failsafe_reason)
        elif mode == MODE_REGULATING and self._mode == MODE_FAILSAFE:
            self.ring.push(events.FAILSAFE_LEFT, now_ms)
        self._mode = mode

    def _before(self, powers_dw):
        before = self._before_dw
        before[0] = powers_dw[0]
        before[1] = powers_dw[1]
        before[2] = powers_dw[2]
        self._ui_read = True

    def _run_check(self, now_ms):
        check = self._check
        for phase in range(check.phases):
            check.phase_power_dw[phase] = self._smaller(phase)
        check.frequency_chz = self.reading.frequency_chz
        self._ui_read = False
        self.checks += 1
        self._verdict(self.plausibility.check(check), now_ms)

    def _smaller(self, phase):
        now_dw = self.reading.phase_power_dw[phase]
        before_dw = self._before_dw[phase]
        return now_dw if abs(now_dw) <= abs(before_dw) else before_dw

    def _verdict(self, reason, now_ms):
        if reason == plausibility.OK:
            self.implausible = False
        elif not self.implausible:
            self.implausible = True
            self.implausible_episodes += 1
            self.ring.push(events.IMPLAUSIBLE, now_ms, reason, self.plausibility.phase)

    def _health(self, now_ms):
        if self.reading.valid and ticks_diff(now_ms, self.reading.t_ms) <= self.failsafe_ms:
            if self._meter_state == _LOST:
                self.ring.push(events.METER_BACK, now_ms)
            self._meter_state = _UP
        elif self._meter_state == _UP:
            self._meter_state = _LOST
            self.meter_losses += 1
            self.ring.push(events.METER_LOST, now_ms)
