"""Load a simulator scenario: the JSON description and its CSV series.

The format is a contract (docs/SIMULATION.md): these keys must keep working,
new optional keys may be added. Power series are interpolated linearly onto
the simulation's time grid once, up front, so the run loop only indexes lists.
Times are seconds, powers watts; phases are 1..3 in the file and 0..2 here.
"""

import csv
import json
from pathlib import Path

import numpy as np
from fleet import min_limit_dw
from hm_band import REGIONS
from plant import RADIOS

INVERTER_DEFAULTS = {
    "phase": 1,
    "inputs": 1,
    "dead_time_s": 2.0,
    "ramp_w_per_s": 400.0,
    "limit_step_pct": 0.1,
    "command_s": 0.2,
    "ack_loss": 0.0,
    "dead_time_jitter": [1.0, 1.0],
    "settle_pct": 0.0,
    "poll_s": 0.0,
    "radio": "nrf24",
}
METER_DEFAULTS = {"position": "grid", "period_s": 1.0, "latency_s": 0.1, "noise_pct": 0.0, "noise_floor_w": 0.0,
                  "dropouts_s": []}
SINGLE_PHASE = ("load_w",)
SPLIT_PHASE = ("load_l1_w", "load_l2_w")
THREE_PHASE = ("load_l1_w", "load_l2_w", "load_l3_w")
# The grid: its load columns and how many phases (legs) it has. Split-phase: legs L1 and L2 of
# the meter, L3 unused (0 W).
GRIDS = {"1p": (SINGLE_PHASE, 1), "split": (SPLIT_PHASE, 2), "3p": (THREE_PHASE, 3)}


class ScenarioError(ValueError):
    pass


class Scenario:
    """Everything a run needs, with the series already on the step grid.

    `load_w[p][k]` is the load on phase p at step k; `pv_w[i][k]` the AC power
    inverter i could make. Single-phase series put the load on L1, split-phase
    series on the legs L1 and L2; the phases a grid lacks carry 0 W.
    """

    def __init__(self, spec, times_s, columns):
        self.name = spec["name"]
        self.step_s = float(spec["step_s"])
        self.export_limit_w = float(spec["export_limit_w"])
        self.grid = spec.get("grid", "3p" if all(name in columns for name in THREE_PHASE) else "1p")
        if self.grid not in GRIDS:
            raise ScenarioError("grid must be '1p', 'split' or '3p'")
        load_columns, self.phases = GRIDS[self.grid]
        phase_limits = spec.get("phase_export_limit_w")
        if phase_limits is not None and self.grid == "split" and len(phase_limits) == 2:
            phase_limits = list(phase_limits) + [None]  # per leg; L3 is unused
        self.phase_export_limit_w = None if phase_limits is None else [_phase_limit(x) for x in phase_limits]
        if self.phase_export_limit_w is not None and len(self.phase_export_limit_w) != 3:
            raise ScenarioError("phase_export_limit_w needs 3 values (null = no limit on that phase)")
        if self.phase_export_limit_w is not None:
            for phase in range(self.phases, 3):
                self.phase_export_limit_w[phase] = None  # a phase the grid does not have: no limit
        self.telemetry_period_s = float(spec.get("telemetry_period_s", 5.0))
        self.link_timeout_s = float(spec.get("link_timeout_s", 0.6))
        self.telemetry_jitter_s = float(spec.get("telemetry_jitter_s", 0.0))
        self.cmt_region = spec.get("cmt_region", "eu")
        if self.cmt_region not in REGIONS:
            raise ScenarioError("cmt_region must be one of %s" % ", ".join(REGIONS))
        self.meter = dict(METER_DEFAULTS, **spec["meter"])
        if self.meter["position"] not in ("grid", "load"):
            raise ScenarioError("meter position must be 'grid' or 'load'")
        self.inverters = [dict(INVERTER_DEFAULTS, **row) for row in spec["inverters"]]
        for inv in self.inverters:
            if inv["phase"] not in range(1, self.phases + 1):
                raise ScenarioError("inverter %s: phase must be %s on a %s grid" % (
                    inv["name"], " or ".join(str(p) for p in range(1, self.phases + 1)), self.grid))
            if inv["radio"] not in RADIOS:
                raise ScenarioError("inverter %s: radio must be one of %s" % (inv["name"], ", ".join(RADIOS)))
            lo, hi = inv["dead_time_jitter"]
            if not 0 < lo <= hi:
                raise ScenarioError("inverter %s: dead_time_jitter must be [lo, hi] with 0 < lo <= hi" % inv["name"])
        end_s = times_s[-1]
        self.duration_s = float(spec.get("duration_s", end_s))
        if self.duration_s > end_s:
            raise ScenarioError("duration_s %.1f is longer than the series (%.1f s)" % (self.duration_s, end_s))
        self.steps = int(round(self.duration_s / self.step_s))
        grid = np.arange(self.steps) * self.step_s
        self.times_s = grid
        if not all(name in columns for name in load_columns):
            raise ScenarioError("the CSV of a %s grid needs %s" % (self.grid, ",".join(load_columns)))
        if self.grid == "split" and "load_l3_w" in columns:
            raise ScenarioError("a split-phase grid has no L3: drop load_l3_w")
        zero = np.zeros_like(times_s)
        loads = [columns[name] for name in load_columns] + [zero] * (3 - len(load_columns))
        self.load_w = [np.interp(grid, times_s, column) for column in loads]
        self.pv_w = []
        for inv in self.inverters:
            column = "pv_%s_w" % inv["name"]
            if column not in columns:
                raise ScenarioError("the CSV has no column %s" % column)
            self.pv_w.append(np.clip(np.interp(grid, times_s, columns[column]), 0.0, inv["rated_w"]))

    @property
    def min_output_w(self):
        """Each inverter's lowest accepted limit (lib/control/fleet.py's rule: 2 % of its rating or
        12 W per DC input)."""
        return [min_limit_dw(int(inv["rated_w"]) * 10, inv["inputs"]) / 10.0 for inv in self.inverters]

    @property
    def dead_time_max_s(self):
        """The longest dead time any command may have: dead_time_s x the top of its jitter."""
        return max(inv["dead_time_s"] * inv["dead_time_jitter"][1] for inv in self.inverters)


def _phase_limit(value):
    return None if value is None or value < 0 else float(value)


def read_series(path):
    """The CSV as {column: numpy array}; rows must be at a regular interval."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if len(rows) < 3 or rows[0][0] != "t_s":
        raise ScenarioError("%s: needs a t_s header and at least two rows" % path)
    header = rows[0]
    data = np.array([[float(cell) for cell in row] for row in rows[1:] if row], dtype=float)
    steps = np.diff(data[:, 0])
    if steps.min() <= 0 or steps.max() - steps.min() > 1e-6 * max(1.0, steps.max()):
        raise ScenarioError("%s: t_s must rise at a regular interval" % path)
    return data[:, 0], {name: data[:, k] for k, name in enumerate(header) if k}


def load(path):
    path = Path(path)
    spec = json.loads(path.read_text())
    for key in ("name", "step_s", "export_limit_w", "meter", "inverters", "series"):
        if key not in spec:
            raise ScenarioError("%s: missing key %r" % (path, key))
    times_s, columns = read_series(path.parent / spec["series"])
    return Scenario(spec, times_s, columns)
