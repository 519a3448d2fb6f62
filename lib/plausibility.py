"""Meter plausibility: data a healthy meter cannot send is treated like a lost meter.

A meter with a loose CT, a wrong wiring or a corrupted register map can keep
answering with good CRCs and wrong numbers. Controlling on those numbers is
worse than not controlling at all, so the firmware runs `check()` on every
sample and, when it fails, marks the reading invalid (the controller then
holds the fail-safe limits) and logs the reason and phase.

Rules, per phase the meter measures:
- voltage within 176..288 V (230 V -23 % .. +25 %, wider than any grid code
  allows a grid to stay connected);
- current at most the meter's rated maximum times the CT ratio;
- frequency within 45..65 Hz;
- |P| at most U*I times (1 + accuracy) plus a floor for the meter's resolution
  at low current: real power can never exceed apparent power.

All in integers: U*I is formed as dV x (mA / 10) / 100 after the voltage and
current checks have bounded both, so it stays far below 2**30 (2880 dV x 60000
for a 600 A CT). No allocation.
"""

from compat import const

OK = const(0)
VOLTAGE = const(1)
CURRENT = const(2)
FREQUENCY = const(3)
POWER = const(4)

NAMES = ("ok", "voltage out of range", "current above rating", "frequency out of range", "power above U*I")

VOLTAGE_MIN_DV = const(1760)
VOLTAGE_MAX_DV = const(2880)
FREQUENCY_MIN_CHZ = const(4500)
FREQUENCY_MAX_CHZ = const(6500)


class Plausibility:
    def __init__(self, max_current_ma, accuracy_pct=1, power_floor_w=10):
        """max_current_ma: the meter's maximum current times the CT ratio (primary side)."""
        if not 0 < max_current_ma <= 600000:
            raise ValueError("max_current_ma must be 1..600000 (600 A)")
        self.max_current_ma = max_current_ma
        self.accuracy_pct = accuracy_pct
        self.power_floor_dw = power_floor_w * 10
        self.reason = OK
        self.phase = 0

    def check(self, reading):
        """OK, or the reason of the first rule the reading breaks (its phase in `phase`)."""
        self.reason = OK
        if not FREQUENCY_MIN_CHZ <= reading.frequency_chz <= FREQUENCY_MAX_CHZ:
            return self._fail(FREQUENCY, 0)
        for phase in range(reading.phases):
            reason = self._phase_reason(reading, phase)
            if reason != OK:
                return self._fail(reason, phase)
        return OK

    def _phase_reason(self, reading, phase):
        voltage_dv = reading.voltage_dv[phase]
        if not VOLTAGE_MIN_DV <= voltage_dv <= VOLTAGE_MAX_DV:
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
