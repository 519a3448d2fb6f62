"""tools/tracker_bound.py, the idealised tracker the goals are measured against: its over-limit energy
for one load drop is the plant's arithmetic, and it holds a cycling load's low phases."""

import json

import pytest
import scenario
import tracker_bound

SPEC = {"name": "drop", "step_s": 0.1, "export_limit_w": 0, "phase_export_limit_w": None,
        "meter": {"position": "grid", "period_s": 1.0, "latency_s": 0.1, "noise_pct": 0.0, "dropouts_s": []},
        "inverters": [{"name": "inv1", "rated_w": 1500, "phase": 1, "inputs": 4, "dead_time_s": 10.0,
                       "ramp_w_per_s": 100, "limit_step_pct": 0.1, "command_s": 0.2, "ack_loss": 0.0}],
        "series": "drop.csv"}


def load(tmp_path, loads_w, pv_w=1000.0):
    rows = "".join("%d,%s,%s\n" % (t, w, pv_w) for t, w in enumerate(loads_w))
    (tmp_path / "drop.csv").write_text("t_s,load_w,pv_inv1_w\n" + rows)
    (tmp_path / "drop.json").write_text(json.dumps(SPEC))
    return scenario.load(tmp_path / "drop.json")


def test_a_load_drop_exports_for_the_dead_time_then_the_ramp(tmp_path):
    # 2000 W until 99 s, 200 W from 100 s, PV 1000 W: the cut goes out with the sample at 100 s, acts 0.55 s + 10 s
    # later, then ramps 800 W at 100 W/s. Over: the interpolated fall (0.444 s from 1000 to 200 W: 178 W s), 800 W for
    # 10.55 s, then the ramp's triangle (800**2 / 200 = 3200 W s): 3.28 Wh. Lost: the 12 W margin from 118.6 s to 200 s.
    scn = load(tmp_path, [2000.0] * 100 + [200.0] * 101)
    over_wh, lost_wh = tracker_bound.run(scn, seed=1, margin_w=12.0)
    assert over_wh == pytest.approx((178 + 800 * 10.55 + 3200) / 3600, abs=0.05)
    assert lost_wh == pytest.approx(12 * 81.4 / 3600, abs=0.02)


def test_a_load_cycling_faster_than_the_dead_time_is_met_at_its_low_phases(tmp_path):
    # 480 W for 6 s, 300 W for 2 s, over and over (within the 10 s dead time): once it saw the load drop, the tracker
    # stays at 300 - 12 W, so twenty more cycles export nothing more and lose the high phases (0.75 x 180 W) and the
    # margin.
    cycle = [480.0] * 6 + [300.0] * 2
    short = tracker_bound.run(load(tmp_path, [300.0] * 30 + cycle * 20), seed=1, margin_w=12.0)
    longer = tracker_bound.run(load(tmp_path, [300.0] * 30 + cycle * 40), seed=1, margin_w=12.0)
    assert longer[0] - short[0] < 0.01
    assert longer[1] - short[1] == pytest.approx((0.75 * 180 + 12) * 20 * 8 / 3600, rel=0.02)
