"""guard.Guard's constructor: a module of its own, loaded to build one, then dropped (compat.build).

It runs at boot (and for a new inverter list) only, so its bytecode need not stay in RAM while the gateway runs
(the firmware's .mpy files are imported into RAM). Allocates: the buffers and tables are made here.
"""

from array import array

import plausibility
from controller import MODE_STARTING
from guard import FAILSAFE_METER, max_current_ma
from reading import Reading


def init(self, reading, model, ring, controller, supervisor=None, failsafe_ms=3000, phases=3,
             nominal_voltage_v=230):
    """phases: the grid's (1, 2 for split phase, 3); nominal_voltage_v: its phase-to-neutral voltage."""
    self.reading = reading
    self.model = model
    self.ring = ring
    self.controller = controller
    self.supervisor = supervisor
    self.failsafe_ms = failsafe_ms
    self.plausibility = plausibility.Plausibility(
        max_current_ma(model), phases=phases, nominal_voltage_v=nominal_voltage_v
    )
    self.blind = Reading()  # never valid: what the supervisor sees during an implausible episode
    # Plausibility's view: the reading's own voltage and current arrays, the bracketing powers.
    check = Reading(reading.phases)
    check.voltage_dv = reading.voltage_dv
    check.current_ma = reading.current_ma
    self._check = check
    self._before_dw = array("i", (0, 0, 0))
    self._ui_read = False  # voltages and currents arrived; check at the next power sample
    self.implausible = False
    self.implausible_episodes = 0
    self.checks = 0
    self.meter_losses = 0
    self._meter_state = 0  # guard._NEVER
    self._mode = MODE_STARTING
    self.failsafe_reason = FAILSAFE_METER  # why not regulating (FAILSAFE_REASONS), 0 while regulating
