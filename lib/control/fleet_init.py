"""fleet.Fleet's constructor: a module of its own, loaded to build one, then dropped (compat.build).

It runs at boot (and for a new inverter list) only, so its bytecode need not stay in RAM while the gateway runs
(the firmware's .mpy files are imported into RAM). Allocates: the tables are made here.
"""

from compat import ints


def init(self, count):
    self.count = count
    self.rated_dw = ints(count)
    self.min_dw = ints(count)
    self.phase = bytearray(count)  # 0, 1, 2 = L1, L2, L3
    self.inputs = bytearray(count)
    self.can_switch_off = bytearray(count)
    self.target_dw = ints(count)
    self.rank = bytearray(count)  # of the queued command: higher goes first
    self.cmd_state = bytearray(count)
    self.cmd_t_ms = ints(count)
    self.output_dw = ints(count)
    self.output_t_ms = ints(count)
    self.output_seq = ints(count)  # reports received; 0 = none yet
