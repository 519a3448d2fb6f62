"""supervisor.Supervisor's constructor: a module of its own, loaded to build one, then dropped (compat.build).

It runs at boot (and for a new inverter list) only, so its bytecode need not stay in RAM while the gateway runs
(the firmware's .mpy files are imported into RAM). Allocates: the buffers and tables are made here.
"""

from array import array

from compat import const
from supervisor import NO_EVENT, STATE_HEAD, TRIP_NONE

_MAX_STAGE2_EVENTS = const(16)



def init(self, ring, export_limit_w=0, phase_export_limit_w=None, stage2_s=15, trip_s=60,
             stage2_max=2, window_s=600, lockout_s=4 * 3600, stale_ms=3000, phases=3):
    if not 1 <= stage2_max <= _MAX_STAGE2_EVENTS:
        raise ValueError("stage2_max must be 1..%d" % _MAX_STAGE2_EVENTS)
    if not 1 <= phases <= 3:
        raise ValueError("phases must be 1, 2 (split-phase) or 3")
    self.phases = phases
    self.ring = ring
    self.stage2_ms = stage2_s * 1000
    self.trip_ms = trip_s * 1000
    self.stage2_max = stage2_max
    self.window_s = window_s
    self.lockout_s = lockout_s
    self.stale_ms = stale_ms
    self.limit_dw = 0
    self.phase_limit_dw = array("i", (-1, -1, -1))
    self.set_limit(export_limit_w, phase_export_limit_w)
    # Saved state.
    self.clock_s = 0
    self.stage2_total = 0
    self.trips = 0
    self.trip_reason = TRIP_NONE
    self.lockout_left_s = 0
    self.stage2_at_s = array("i", [NO_EVENT] * stage2_max)  # clock_s of recent stage-2 events
    self.commission_left_s = 0  # commissioning: record, never trip
    self.inverters = 1  # how many the plant's limits reach (the firmware sets it); 0: nothing to trip
    # Not saved: an excursion in progress ends with a reboot (the plant restarts in fail-safe).
    self.version = 0
    self.excursions = 0
    self.in_excursion = False
    self.excursion_start_ms = 0
    self.excursion_last_ms = 0  # the last over-limit sample
    self.excursion_peak_dw = 0
    self.noted = 0  # _NOTED_* of the excursion in progress
    self._seq = -1
    self._last_ms = 0
    self._started = False
    self._clock_ms = 0  # milliseconds not yet added to clock_s
    self._lockout_saved_s = 0


def load_from(self, state):
    """Supervisor.load_from."""
    size = self.state_size()
    if len(state) < STATE_HEAD or state[5] != self.stage2_max or not size - 1 <= len(state) <= size:
        raise ValueError("supervisor state does not match stage2_max=%d" % self.stage2_max)
    self.clock_s = state[0]
    self.stage2_total = state[1]
    self.trips = state[2]
    self.trip_reason = state[3]
    self.lockout_left_s = state[4]
    self._lockout_saved_s = state[4]
    for index in range(self.stage2_max):
        self.stage2_at_s[index] = state[STATE_HEAD + index]
    self.commission_left_s = state[size - 1] if len(state) == size else 0
