"""Scores of one run, computed on the TRUE grid power (never on the meter's reading).

Over-limit power at each step is the worst of the total (export above the
export limit) and of each phase that has its own limit. A step counts as over
the limit when that exceeds OVER_EPSILON_W, a float-rounding guard far below
any inverter's limit step. An excursion is a run of consecutive over-limit
steps. See docs/SIMULATION.md for every definition.
"""

import numpy as np

OVER_EPSILON_W = 0.01
KEYS = (
    "export_over_limit_wh",
    "max_over_limit_w",
    "seconds_over_limit",
    "longest_excursion_s",
    "excursions_over_5s",
    "excursions_over_15s",
    "pv_produced_wh",
    "lost_yield_wh",
    "limit_commands",
    "failsafe_reaction_s",
    "stage2_events",
    "trips",
)


def over_limit_w(grid_phase_w, export_limit_w, phase_export_limit_w):
    """Per-step over-limit power: grid_phase_w has shape (3, steps), + import / - export."""
    over = np.maximum(0.0, -grid_phase_w.sum(axis=0) - export_limit_w)
    for phase, limit in enumerate(phase_export_limit_w or ()):
        if limit is not None:
            over = np.maximum(over, -grid_phase_w[phase] - limit)
    return over


def excursions_s(over_w, step_s):
    """Durations (s) of the runs of consecutive over-limit steps."""
    flag = np.concatenate(([0], (over_w > OVER_EPSILON_W).astype(np.int8), [0]))
    edges = np.flatnonzero(np.diff(flag))
    return (edges[1::2] - edges[0::2]) * step_s


def oracle_outputs_w(load_w, pv_w, phases, export_limit_w, phase_export_limit_w):
    """Instant perfect curtailment: the most PV the limits allow at each step, per inverter.

    load_w (3, steps), pv_w (inverters, steps), phases: each inverter's phase
    0..2. The oracle may go anywhere in [0, available]; it honours the phase
    limits too, and shares each phase's cut among its inverters in proportion
    to their available power.
    """
    pv_phase = np.zeros_like(load_w)
    for row, phase in zip(pv_w, phases, strict=True):
        pv_phase[phase] += row
    cap = pv_phase.copy()
    for phase, limit in enumerate(phase_export_limit_w or ()):
        if limit is not None:
            cap[phase] = np.minimum(cap[phase], np.maximum(0.0, load_w[phase] + limit))
    total_cap = np.maximum(0.0, load_w.sum(axis=0) + export_limit_w)
    cap_sum = cap.sum(axis=0)
    scale = np.divide(np.minimum(cap_sum, total_cap), cap_sum, out=np.zeros_like(cap_sum), where=cap_sum > 0)
    share = np.divide(cap * scale, pv_phase, out=np.zeros_like(cap), where=pv_phase > 0)
    return np.array([row * share[phase] for row, phase in zip(pv_w, phases, strict=True)])


def failsafe_reaction_s(times_s, limits_in_force_w, dropouts_s, bound_w):
    """Worst time from a dropout's start until the limits in force total <= bound_w.

    None without a dropout, or when some dropout ends before that happens.
    limits_in_force_w is the per-step sum of the limits the inverters apply.
    """
    if not dropouts_s:
        return None
    worst = 0.0
    for start, end in dropouts_s:
        window = (times_s >= start) & (times_s < end) & (limits_in_force_w <= bound_w + OVER_EPSILON_W)
        hits = np.flatnonzero(window)
        if hits.size == 0:
            return None
        worst = max(worst, float(times_s[hits[0]] - start))
    return round(worst, 3)


def score(run, oracle_pv_wh):
    """The JSON metrics of a finished run (see sim.run for the fields of `run`)."""
    step_s = run.step_s
    over = over_limit_w(run.grid_phase_w, run.export_limit_w, run.phase_export_limit_w)
    runs = excursions_s(over, step_s)
    over_wh = float(over.sum() * step_s / 3600.0)
    pv_wh = float(run.pv_total_w.sum() * step_s / 3600.0)
    return {
        "export_over_limit_wh": round(over_wh, 3),
        "max_over_limit_w": round(float(over.max(initial=0.0)), 1),
        "seconds_over_limit": round(float((over > OVER_EPSILON_W).sum() * step_s), 1),
        "longest_excursion_s": round(float(runs.max(initial=0.0)), 1),
        "excursions_over_5s": int((runs > 5.0).sum()),
        "excursions_over_15s": int((runs > 15.0).sum()),
        "pv_produced_wh": round(pv_wh, 3),
        "lost_yield_wh": round(max(0.0, oracle_pv_wh - (pv_wh - over_wh)), 3),
        "limit_commands": run.limit_commands,
        "failsafe_reaction_s": run.failsafe_reaction_s,
        "stage2_events": run.stage2_events,
        "trips": run.trips,
    }
