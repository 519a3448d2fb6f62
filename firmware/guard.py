"""The safety checks of the control tick: meter plausibility, meter health, the export supervisor, fail-safe events.

    guard = Guard(reading, "dtsu666", ring, supervisor)   # supervisor: None with a load-side meter
    # in the tick:
    status = guard.meter_step(meter, now_ms)              # the meter's poll, then the plausibility verdict
    controller.step(now_ms, guard.control_input(now_ms))  # steps the supervisor; blind while tripped
    guard.after_control(controller.mode, now_ms)          # fail-safe entered / left events

Plausibility (lib/meter/plausibility.py) needs voltages and currents, which the
meter drivers read in a slow register block (block 1 of every model), every
few power samples; power is read every sample. A check of a fresh power
against currents read seconds earlier would flag every load step, so the
check runs once per voltage/current read, at the next power sample, with
each phase's power taken as the smaller in magnitude of the samples just
before and just after that read: a healthy meter's power at the moment of
the current read lies between them whenever the power moved one way. A
failed check starts an implausible episode (one IMPLAUSIBLE event): the
reading stays invalid, so the controller holds the fail-safe limits, until a
later check passes. Before the first voltage/current read nothing is
checked. The maximum current is the meter model's rating, or 6 A times the
CT ratio the driver uses once it started (RATED_MA).

Meter health: the meter is "up" while the driver's newest power read was
good and younger than `failsafe_ms`; METER_LOST and METER_BACK are pushed on
the edges (not for the first sample after boot). An implausible episode is
not a lost meter: it has its own event.

The supervisor (lib/control/supervisor.py) watches export at the grid connection.
While it is tripped (lockout), `control_input` hands the controller `blind`,
a Reading that is never valid, so the controller holds the fail-safe limits
through its own fail-safe path (the least invasive hold; the controller has
no input for it). FAILSAFE_ENTERED carries the reason: FAILSAFE_METER,
FAILSAFE_IMPLAUSIBLE or FAILSAFE_TRIP.

Timing and allocation: a few attribute reads and compares per tick, one
plausibility check (a few dozen bytecodes per phase) per voltage/current
read; nothing allocates after the meter's start-up. Every method keeps its
frame within MicroPython's 11-word on-stack limit.
"""

from array import array

import events
import meters
import plausibility
from compat import const, ticks_diff
from controller import MODE_FAILSAFE, MODE_REGULATING, MODE_STARTING
from reading import Reading

FAILSAFE_METER = const(1)  # no valid meter data younger than failsafe_ms
FAILSAFE_IMPLAUSIBLE = const(2)  # the meter sends values a healthy meter cannot
FAILSAFE_TRIP = const(3)  # the supervisor tripped: lockout
FAILSAFE_REASONS = ("", "meter data missing", "implausible meter data", "supervisor trip (lockout)")

# The meter's rated maximum current with direct connection, and the CT meters' secondary rating.
RATED_MA = {"ddsu666": 80000, "dtsu666": 80000, "sdm120": 45000, "sdm630": 100000}
CT_SECONDARY_MA = const(6000)
_PLAUSIBLE_MAX_MA = plausibility.MAX_CURRENT_MA  # the largest current lib/meter/plausibility.py accepts

_UI_BLOCK = const(1)  # the slow block with voltages and currents, in every model table
_NEVER = const(0)
_UP = const(1)
_LOST = const(2)


def max_current_ma(model, ct_ratio=1):
    """The highest current a healthy meter of `model` can report, primary side, in mA."""
    rated_ma = RATED_MA[model] if ct_ratio <= 1 else CT_SECONDARY_MA * ct_ratio
    return min(rated_ma, _PLAUSIBLE_MAX_MA)


class Guard:
    def __init__(self, reading, model, ring, supervisor=None, failsafe_ms=3000, phases=3, nominal_voltage_v=230):
        """phases: the grid's (1, 2 for split phase, 3); nominal_voltage_v: its phase-to-neutral voltage."""
        self.reading = reading
        self.model = model
        self.ring = ring
        self.supervisor = supervisor
        self.failsafe_ms = failsafe_ms
        self.plausibility = plausibility.Plausibility(
            max_current_ma(model), phases=phases, nominal_voltage_v=nominal_voltage_v
        )
        self.blind = Reading()  # never valid: what the controller sees during a lockout
        # Plausibility's view: the reading's own voltage and current arrays, the bracketing powers.
        check = Reading(reading.phases)
        check.phases = reading.phases
        check.voltage_dv = reading.voltage_dv
        check.current_ma = reading.current_ma
        self._check = check
        self._before_dw = array("i", (0, 0, 0))
        self._ui_read = False  # voltages and currents arrived; check at the next power sample
        self.meter_valid = False  # the driver's own verdict on its newest power read
        self.implausible = False
        self.implausible_episodes = 0
        self.checks = 0
        self.meter_losses = 0
        self._meter_state = _NEVER
        self._mode = MODE_STARTING

    # --- in the tick -----------------------------------------------------------------------

    def meter_step(self, meter, now_ms):
        """One poll of the grid meter's driver; returns its status. The reading is invalid while implausible."""
        reading = self.reading
        reading.valid = self.meter_valid  # the driver owns validity; ours is laid over it below
        status = meter.step(now_ms)
        self.meter_valid = reading.valid
        if status == meters.SAMPLE:
            if self._ui_read:
                self._run_check(now_ms)
        elif status == meters.UPDATED and meter.answered_block == _UI_BLOCK:
            self._before(reading.phase_power_dw)
        elif status == meters.STARTED:
            self.plausibility.max_current_ma = max_current_ma(self.model, meter.ct_ratio)
        if self.implausible:
            reading.valid = False
        self._health(now_ms)
        return status

    def control_input(self, now_ms):
        """Step the supervisor; the Reading the controller may use: `blind` while a trip holds."""
        supervisor = self.supervisor
        if supervisor is None:
            return self.reading
        supervisor.step(now_ms, self.reading)
        if supervisor.lockout_left_s > 0:
            return self.blind
        return self.reading

    def after_control(self, mode, now_ms):
        """Push FAILSAFE_ENTERED (with the reason) and FAILSAFE_LEFT on the controller's mode edges."""
        if mode == self._mode:
            return
        if mode == MODE_FAILSAFE:
            self.ring.push(events.FAILSAFE_ENTERED, now_ms, self.failsafe_reason())
        elif mode == MODE_REGULATING and self._mode == MODE_FAILSAFE:
            self.ring.push(events.FAILSAFE_LEFT, now_ms)
        self._mode = mode

    def failsafe_reason(self):
        supervisor = self.supervisor
        if supervisor is not None and supervisor.lockout_left_s > 0:
            return FAILSAFE_TRIP
        if self.implausible:
            return FAILSAFE_IMPLAUSIBLE
        return FAILSAFE_METER

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
        if self.meter_valid and ticks_diff(now_ms, self.reading.t_ms) <= self.failsafe_ms:
            if self._meter_state == _LOST:
                self.ring.push(events.METER_BACK, now_ms)
            self._meter_state = _UP
        elif self._meter_state == _UP:
            self._meter_state = _LOST
            self.meter_losses += 1
            self.ring.push(events.METER_LOST, now_ms)

    # --- outside the tick ------------------------------------------------------------------

    def set_limit(self, export_limit_w, phase_export_limit_w=None):
        if self.supervisor is not None:
            self.supervisor.set_limit(export_limit_w, phase_export_limit_w)

    def reset(self, now_ms):
        """Installer reset of the supervisor: ends a lockout (logged as RESET)."""
        if self.supervisor is not None:
            self.supervisor.reset(now_ms)
