"""The simulator's supervisor counts: lib/control/supervisor.py fed what a connection-point meter reports."""

import json

import numpy as np
import scenario as scenario_mod
import sim
import supervision


def samples(pattern, period_s=1.0):
    """One sample per period: pattern is [(seconds, total W)] on L1 (negative = export)."""
    out, t_s = [], 0.0
    for seconds, watts in pattern:
        for _ in range(int(seconds / period_s)):
            out.append((t_s, [watts, 0.0, 0.0]))
            t_s += period_s
    return out, t_s


def test_twice_20_s_over_the_limit_within_10_minutes_trips():
    trace, end_s = samples([(60, -50), (20, -150), (200, -50), (20, -150), (60, -50)])
    assert supervision.counts(trace, end_s, export_limit_w=100) == (2, 1)


def test_one_long_excursion_trips_and_short_ones_count_nothing():
    trace, end_s = samples([(30, 0), (14, -150), (30, 0), (14, -150), (30, 0)])
    assert supervision.counts(trace, end_s, 100) == (0, 0)
    trace, end_s = samples([(30, 0), (70, -150), (30, 0)])
    assert supervision.counts(trace, end_s, 100) == (1, 1)  # stage 2 after 15 s, the trip at 60 s


def test_stage2_events_far_apart_do_not_trip():
    trace, end_s = samples([(10, 0), (20, -150), (700, 0), (20, -150), (10, 0)])
    assert supervision.counts(trace, end_s, 100) == (2, 0)


def test_a_leg_over_its_own_limit_counts_in_split_phase():
    trace = [(float(t), [-20.0, -130.0, -1.0] if 10 <= t < 30 else [0.0, 0.0, -1.0]) for t in range(80)]
    assert supervision.counts(trace, 80.0, 150, [100, 100, 0], phases=2) == (1, 0)
    assert supervision.counts(trace, 80.0, 150, [100, 100, 0], phases=3) == (1, 1)  # L3 over its 0 W for 80 s


def test_connection_samples_follow_the_meter_period_latency_and_dropouts():
    times_s = np.arange(300) * 0.1
    grid = np.zeros((3, 300))
    grid[0] = -times_s  # the export grows 1 W per second
    spec = {"position": "load", "period_s": 2.0, "latency_s": 0.3, "noise_pct": 5.0, "dropouts_s": [[10, 14]]}
    delivered = supervision.connection_samples(times_s, grid, spec)
    assert [round(t, 1) for t, _ in delivered] == [0.3, 2.3, 4.3, 6.3, 8.3, 14.3, 16.3, 18.3, 20.3, 22.3, 24.3,
                                                   26.3, 28.3]
    assert [round(w[0], 6) for _, w in delivered][:3] == [0.0, -2.0, -4.0]  # the true value at the sample, no noise


def write_scenario(directory, position="grid", load_w=0.0):
    """An HM-800 whose 24 W minimum already exports above a 0 W limit with no load behind the meter."""
    rows = "".join("%d,%.1f,700.0\n" % (t, load_w) for t in range(0, 301))
    (directory / "min.csv").write_text("t_s,load_w,pv_inv1_w\n" + rows)
    spec = {"name": "minimum-exports", "step_s": 0.1, "export_limit_w": 0, "phase_export_limit_w": None,
            "meter": {"position": position, "period_s": 1.0, "latency_s": 0.1, "noise_pct": 0.0, "dropouts_s": []},
            "inverters": [{"name": "inv1", "rated_w": 800, "inputs": 2}], "series": "min.csv"}
    path = directory / "min.json"
    path.write_text(json.dumps(spec))
    return scenario_mod.load(path)


def test_a_controller_that_cannot_curtail_enough_trips_and_the_oracle_does_not(tmp_path):
    for position in ("grid", "load"):
        scn = write_scenario(tmp_path, position)
        ours = sim.run(scn, "ours").metrics
        assert ours["seconds_over_limit"] > 250  # the inverter's minimum is over the limit all the time
        assert (ours["stage2_events"], ours["trips"]) == (1, 1), position  # one excursion, locked out after 60 s
        oracle = sim.run(scn, "oracle").metrics
        assert (oracle["stage2_events"], oracle["trips"]) == (0, 0)


def test_a_controller_that_holds_the_limit_counts_nothing(tmp_path):
    scn = write_scenario(tmp_path, load_w=300.0)
    result = sim.run(scn, "ours").metrics
    assert (result["stage2_events"], result["trips"]) == (0, 0)
    assert result["longest_excursion_s"] < 15
