"""inverter_model.InverterModel's constructor: a module of its own, loaded to build one, then dropped (compat.build).

It runs at boot (and for a new inverter list) only, so its bytecode need not stay in RAM while the gateway runs
(the firmware's .mpy files are imported into RAM). Allocates: the buffers and tables are made here.
"""

from compat import ints
from inverter_model import DONE, NONE, RAMP_MIN_DW_PER_S


def init(self, fleet, response_ms, max_response_ms, ramp_w_per_s, min_interval_ms, headroom_pct,
             headroom_w, tolerance_pct, tolerance_w, keep_ms):
    count = fleet.count
    self.fleet = fleet
    self.count = count
    self.max_response_ms = max_response_ms
    self.min_interval_ms = min_interval_ms
    self.headroom_pct = headroom_pct
    self.headroom_dw = headroom_w * 10
    self.tolerance_pct = tolerance_pct
    self.tolerance_dw = tolerance_w * 10
    self.keep_ms = keep_ms
    self.service_ms = -1  # time the link takes to deliver a command (measured; -1: not yet)
    self.belief = bytearray(count)
    for index in range(count):
        self.belief[index] = DONE
    self.prev_dw = ints(count)  # highest limit maybe in force when the newest was sent
    self.low_dw = ints(count)  # lowest limit maybe in force when the newest was sent
    for index in range(count):
        self.prev_dw[index] = fleet.target_dw[index]
        self.low_dw[index] = fleet.target_dw[index]
    self.ack_ms = ints(count)
    self.effect_ms = ints(count)
    self.dead_ms = ints(count, response_ms)
    self.dead_hi_ms = ints(count, response_ms)  # the longest dead time seen lately (for the fail-safe)
    self.ramp_dw_per_s = ints(count, max(ramp_w_per_s * 10, RAMP_MIN_DW_PER_S))
    self.settle_dw = ints(count)  # how far below a binding limit the output settles
    self.sent_ms = ints(count)
    self.ever_sent = bytearray(count)
    self.clean = bytearray(count)  # the newest command went out while the one before was in force
    self.fails = bytearray(count)  # commands failed in a row (lost acks, or unreachable)
    self.from_dw = ints(count)  # output (taken high) when the newest command went out
    self.avail_dw = ints(count, NONE)  # reported output while PV-bound, or NONE
    self.report_seq = ints(count)
    self.moving_dw = ints(count, NONE)  # the last report while the output moved, or NONE
    self.moving_ms = ints(count)

# -- feedback -------------------------------------------------------------------------------
