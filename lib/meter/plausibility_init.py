"""plausibility.Plausibility's constructor: a module of its own, loaded to build one, then dropped (compat.build).

It runs at boot (and for a new inverter list) only, so its bytecode need not stay in RAM while the gateway runs
(the firmware's .mpy files are imported into RAM). Allocates: a few ints.
"""

from compat import const
from plausibility import MAX_CURRENT_MA, OK

_NOMINAL_V = const(230)
_VOLTAGE_MIN_V = const(176)  # at _NOMINAL_V; scaled to other nominal voltages
_VOLTAGE_MAX_V = const(288)


def init(self, max_current_ma, accuracy_pct=1, power_floor_w=10, phases=3, nominal_voltage_v=_NOMINAL_V):
    """max_current_ma: the meter's maximum current times the CT ratio (primary side); phases: the
    grid's phases or legs (1, 2 for split-phase, 3); nominal_voltage_v: phase (leg) to neutral."""
    if not 0 < max_current_ma <= MAX_CURRENT_MA:
        raise ValueError("max_current_ma must be 1..%d (3 kA)" % MAX_CURRENT_MA)
    if not 1 <= phases <= 3:
        raise ValueError("phases must be 1, 2 (split-phase) or 3")
    if not 100 <= nominal_voltage_v <= 240:
        raise ValueError("nominal_voltage_v must be 100..240")
    self.max_current_ma = max_current_ma
    self.phases = phases
    # Whole volts, rounded: 176..288 V at 230 V, 92..150 V at 120 V.
    self.voltage_min_dv = (nominal_voltage_v * _VOLTAGE_MIN_V + _NOMINAL_V // 2) // _NOMINAL_V * 10
    self.voltage_max_dv = (nominal_voltage_v * _VOLTAGE_MAX_V + _NOMINAL_V // 2) // _NOMINAL_V * 10
    self.accuracy_pct = accuracy_pct
    self.power_floor_dw = power_floor_w * 10
    self.reason = OK
    self.phase = 0
