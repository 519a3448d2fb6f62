"""Meter plausibility: data a healthy meter cannot send is treated like a lost meter.

A meter with a loose CT, a wrong wiring or a corrupted register map can keep
answering with good CRCs and wrong numbers. Controlling on those numbers is
worse than not controlling at all, so the firmware runs `check()` on every
sample and, when it fails, marks the reading invalid (the controller then
holds the fail-safe limits) and logs the reason and phase.

Rules, per phase the grid has (and the meter measures):
- voltage within 176..288 V at 230 V nominal (-23 % .. +25 %, wider than any
  grid code allows a grid to stay connected), the same window scaled to the
  grid's nominal voltage and rounded to whole volts elsewhere: 92..150 V on
  the 120 V legs of a North American split-phase grid;
- current at most the meter's rated maximum times the CT ratio;
- frequency within 45..65 Hz;
- |P| at most U*I times (1 + accuracy) plus a floor for the meter's resolution
  at low current: real power can never exceed apparent power.

Only the first `phases` phases are checked: 1 on a single-phase grid, 2 on
a split-phase grid (L1 and L2; the meter's unused L3 reads 0 V and must not
fail), 3 on a three-phase grid; never more than the reading has.

All in integers: U*I is formed as dV x (mA / 10) / 100 after the voltage and
current checks have bounded both, so it stays below 2**30 (3000 dV x 300000
for 3 kA at 300 V). No allocation.
"""

from compat import build, const

# 3 kA: a DTSU666 behind a 2500/5 CT reads up to 3 kA; U*I stays below 2**30 up to 300 V.
MAX_CURRENT_MA = const(3000000)

OK = const(0)
VOLTAGE = const(1)
CURRENT = const(2)
FREQUENCY = const(3)
POWER = const(4)

_FREQUENCY_MIN_CHZ = const(4500)
_FREQUENCY_MAX_CHZ = const(6500)


class Plausibility:
    def __init__(self, *args, **options):
        build("meter_init", "plausibility", self, args, options)  # boot only: meter_init.py

    def check(self, reading):
        """OK, or the reason of the first rule the reading breaks (its phase in `phase`)."""
        self.reason = OK
        if not _FREQUENCY_MIN_CHZ <= reading.frequency_chz <= _FREQUENCY_MAX_CHZ:
            return self._fail(FREQUENCY, 0)
        for phase in range(min(self.phases, reading.phases)):
            reason = self._phase_reason(reading, phase)
            if reason != OK:
                return self._fail(reason, phase)
        return OK

    def _phase_reason(self, reading, phase):
        voltage_dv = reading.voltage_dv[phase]
        if not self.voltage_min_dv <= voltage_dv <= self.voltage_max_dv:
            return VOLTAGE
        # Compared, never negated: -(-2**30) is already a long int on the ESP32.
        current_ma = reading.current_ma[phase]
        if current_ma > self.max_current_ma or current_ma < -self.max_current_ma:
            return CURRENT
        if current_ma < 0:
            current_ma = -current_ma
        apparent_dw = voltage_dv * (current_ma // 10) // 100
        allowed_dw = apparent_dw + apparent_dw * self.accuracy_pct // 100 + self.power_floor_dw
        power_dw = reading.phase_power_dw[phase]
        if power_dw > allowed_dw or power_dw < -allowed_dw:
            return POWER
        return OK

    def _fail(self, reason, phase):
        self.reason = reason
        self.phase = phase
        return reason
