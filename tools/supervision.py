"""The simulator's evidence for the grid operator: lib/control/supervisor.py's counts over one run.

The device's Supervisor (default settings: stage 2 after more than 15 s over
the limit, a trip at 60 s or at 2 stage-2 events within 10 minutes) is fed
what a grid meter at the connection point reports, sample by sample, and
stepped every control period (0.25 s) as the firmware steps it:

- with a grid-side meter, the very samples the controllers got (period,
  latency, noise, dropouts);
- with a load-side meter (and for the oracle, which has no meter), the true
  grid power at the meter's sample times, delivered after its latency and
  silent during its dropouts, without noise: what a separate meter at the
  connection point would report.

Only the counts are taken: a trip does not lock the simulated plant out.
"""

import random

import events
from plant import Meter, record_sample, ticks
from reading import Reading
from supervisor import Supervisor

CONTROL_PERIOD_S = 0.25


def connection_samples(times_s, grid_phase_w, meter_spec):
    """[(delivery t_s, [L1, L2, L3] W)] of a noise-free meter at the connection point with the
    scenario meter's period, latency and dropouts; grid_phase_w has shape (3, steps)."""
    meter = Meter(dict(meter_spec, position="grid", noise_pct=0.0, noise_floor_w=0.0), random.Random(0))
    rows = grid_phase_w.T.tolist()
    samples = []
    for t_s, grid in zip(times_s.tolist(), rows, strict=True):
        if meter.update(t_s, grid, grid):
            samples.append((t_s, list(meter.phase_w)))
    return samples


def counts(samples, end_s, export_limit_w, phase_export_limit_w=None, phases=3):
    """(stage2_events, trips) of a default Supervisor fed `samples` ([(t_s, [W per phase])], in
    time order) and stepped every CONTROL_PERIOD_S from 0 to end_s. Phase limits: None = none."""
    phase_limits = None if phase_export_limit_w is None else [
        -1 if w is None else int(round(w)) for w in phase_export_limit_w]
    supervisor = Supervisor(events.EventRing(16), int(round(export_limit_w)), phase_limits, phases=phases)
    reading = Reading(3)
    next_sample = 0
    for k in range(int(end_s / CONTROL_PERIOD_S + 1e-9) + 1):
        t_s = k * CONTROL_PERIOD_S
        while next_sample < len(samples) and samples[next_sample][0] <= t_s + 1e-9:
            record_sample(reading, *samples[next_sample])
            next_sample += 1
        supervisor.step(ticks(t_s), reading)
    return supervisor.stage2_total, supervisor.trips
