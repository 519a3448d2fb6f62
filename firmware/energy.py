"""Import, export and PV energy counters that survive reboots, saved sparingly.

    energy = EnergyCounters(ConfigStore("/energy.json"), persist_ms=15 * 60000)
    energy.load()                                  # at boot: the saved counters, or zeros and a warning
    energy.update(now_ms, reading, pv_dw, plausible)   # every service pass, outside the control tick
    energy.save_if_due(now_ms)                     # at most every persist_ms; energy.save() on clean stop

Import and export are integrated from the grid meter's power samples: each
new valid sample adds its power times the time since the previous one
(nothing across a gap longer than `max_gap_ms`: a lost meter adds nothing;
nor while the guard finds the meter's data implausible: `plausible` False).
PV energy integrates `pv_dw` (the PV meter's power, or the inverters'
reported outputs) over the time between passes, with the same gap rule; None
means unknown and adds nothing. Fractions of a watt-hour are carried over,
so short sample periods lose nothing.

Flash wear: the counters are written at most every `persist_ms` (the
setting energy_persist_min) and on a clean stop, through ConfigStore's
power-loss-safe save; a power cut loses at most that much counting.

Runs outside the control tick: it allocates (Python ints of dW*ms, the save).
"""

from compat import build, ticks_diff

NAMES = ("import_wh", "export_wh", "pv_wh")
_DW_MS_PER_WH = 36000000  # 10 dW x 3 600 000 ms


class EnergyCounters:
    def __init__(self, store=None, persist_ms=900000, max_gap_ms=10000):
        self.store = store
        self.persist_ms = persist_ms
        self.max_gap_ms = max_gap_ms
        self.import_wh = 0
        self.export_wh = 0
        self.pv_wh = 0
        self._residue = {name: 0 for name in NAMES}  # dW*ms not yet a whole Wh
        self._seq = None
        self._sample_ms = 0
        self._pass_ms = None
        self._saved_ms = None
        self._dirty = False
        self.saves = 0

    def load(self):
        """Take the saved counters; returns None, or the problem (missing or corrupt: counting starts at 0)."""
        return build("app_init", "energy", self, (), {})  # boot only: app_init.py

    def update(self, now_ms, reading, pv_dw=None, plausible=True):
        if reading.valid and reading.seq != self._seq:
            if self._seq is not None and plausible:
                elapsed_ms = ticks_diff(reading.t_ms, self._sample_ms)
                power_dw = reading.power_dw
                self._add("import_wh" if power_dw > 0 else "export_wh", abs(power_dw), elapsed_ms)
            self._seq = reading.seq
            self._sample_ms = reading.t_ms
        if self._pass_ms is not None and pv_dw is not None:
            self._add("pv_wh", abs(pv_dw), ticks_diff(now_ms, self._pass_ms))
        self._pass_ms = now_ms

    def _add(self, name, power_dw, elapsed_ms):
        if not 0 < elapsed_ms <= self.max_gap_ms or power_dw == 0:
            return
        residue = self._residue[name] + power_dw * elapsed_ms
        whole_wh = residue // _DW_MS_PER_WH
        self._residue[name] = residue - whole_wh * _DW_MS_PER_WH
        if whole_wh:
            setattr(self, name, getattr(self, name) + whole_wh)
            self._dirty = True

    def save_if_due(self, now_ms):
        """Save when a counter changed and persist_ms passed since the last save (or none was made yet)."""
        if self._dirty and (self._saved_ms is None or ticks_diff(now_ms, self._saved_ms) >= self.persist_ms):
            self.save()
            self._saved_ms = now_ms

    def save(self):
        if self.store is None:
            return
        self.store.save({name: getattr(self, name) for name in NAMES})
        self._dirty = False
        self.saves += 1
