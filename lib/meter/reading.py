"""One meter sample, shared by a meter driver (writer) and the controller (reader).

A `Reading` is allocated once at start-up and updated in place, so the poll
path and the control step never allocate. Sign convention everywhere:
power is positive when imported from the grid and negative when exported.
Units are in the names: deci-watts (`_dw`), deci-volts (`_dv`), milliamps
(`_ma`), centi-hertz (`_chz`), watt-hours (`_wh`), ticks in ms (`_ms`).
"""

from array import array


class Reading:
    def __init__(self, phases=3):
        self.phases = phases
        # False before the first good sample and after bad data: the controller
        # treats an invalid reading like a missing one (fail-safe).
        self.valid = False
        # Counts good power samples; the controller acts when it changes.
        self.seq = 0
        # ticks_ms when the power sample arrived.
        self.t_ms = 0
        self.power_dw = 0
        self.phase_power_dw = array("i", (0, 0, 0))
        self.voltage_dv = array("i", (0, 0, 0))
        self.current_ma = array("i", (0, 0, 0))
        self.frequency_chz = 0
        self.import_wh = 0
        self.export_wh = 0
