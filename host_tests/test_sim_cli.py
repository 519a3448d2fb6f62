"""tools/sim.py as a program: the scenario format (both CSV layouts, interpolation), the
exact JSON contract, --seed repeatability, the table and the plot."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scenario
import sim

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"export_over_limit_wh", "max_over_limit_w", "seconds_over_limit", "longest_excursion_s",
        "excursions_over_5s", "excursions_over_15s", "pv_produced_wh", "lost_yield_wh", "limit_commands",
        "failsafe_reaction_s", "stage2_events", "trips"}

# The example of the issue, word for word, with a 5-minute series.
ISSUE_EXAMPLE = {"name": "kettle-1p", "step_s": 0.1, "export_limit_w": 0, "phase_export_limit_w": None,
                 "meter": {"position": "grid", "period_s": 1.0, "latency_s": 0.1, "noise_pct": 0.5,
                           "dropouts_s": [[120, 180]]},
                 "inverters": [{"name": "inv1", "rated_w": 800, "phase": 1, "inputs": 2, "dead_time_s": 2.0,
                                "ramp_w_per_s": 400, "limit_step_pct": 0.1, "command_s": 0.2, "ack_loss": 0.1}],
                 "series": "kettle-1p.csv"}


def write_example(directory, spec=ISSUE_EXAMPLE, rows=None):
    if rows is None:  # a kettle from 60 s to 150 s, PV 700 W; rows every 10 s
        rows = [(t, 2200.0 if 60 <= t < 150 else 200.0, 700.0) for t in range(0, 310, 10)]
    header = "t_s,load_w,pv_inv1_w\n" if len(rows[0]) == 3 else "t_s,load_l1_w,load_l2_w,load_l3_w,pv_inv1_w\n"
    (directory / spec["series"]).write_text(header + "".join(",".join(str(v) for v in row) + "\n" for row in rows))
    path = directory / (spec["name"] + ".json")
    path.write_text(json.dumps(spec))
    return path


def run_cli(*args):
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "sim.py"), *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("controller", ["dpl-tuned", "hze-literal", "simple", "oracle"])
def test_json_is_one_object_with_exactly_the_contract_keys(tmp_path, controller):
    path = write_example(tmp_path)
    out = run_cli("--scenario", path, "--controller", controller, "--json")
    result = json.loads(out)
    assert set(result) == KEYS and out.strip().count("\n") == 0
    assert isinstance(result["limit_commands"], int)
    assert isinstance(result["excursions_over_5s"], int)
    assert all(isinstance(result[k], float | int) for k in KEYS - {"failsafe_reaction_s"})
    if controller == "oracle":
        assert result["lost_yield_wh"] == 0.0 and result["export_over_limit_wh"] == 0.0
        assert result["failsafe_reaction_s"] is None  # the oracle has no meter to lose
        assert result["stage2_events"] == 0 and result["trips"] == 0


def test_same_seed_repeats_exactly_and_another_seed_differs(tmp_path):
    path = write_example(tmp_path)
    first = run_cli("--scenario", path, "--controller", "dpl", "--json", "--seed", "4")
    again = run_cli("--scenario", path, "--controller", "dpl", "--json", "--seed", "4")
    other = run_cli("--scenario", path, "--controller", "dpl", "--json", "--seed", "5")
    assert first == again
    assert first != other


def test_default_output_is_a_table_and_plot_is_written(tmp_path):
    path = write_example(tmp_path)
    png = tmp_path / "day.png"
    out = run_cli("--scenario", path, "--controller", "simple", "--plot", png)
    header, rule, row = out.strip().split("\n")
    assert header.split() == ["scenario", "controller", *sim.metrics.KEYS]
    assert row.split()[:2] == ["kettle-1p", "simple"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_series_are_interpolated_linearly_onto_the_step_grid(tmp_path):
    spec = dict(ISSUE_EXAMPLE, step_s=0.5, duration_s=20)
    path = write_example(tmp_path, spec, rows=[(0, 100.0, 0.0), (10, 200.0, 500.0), (20, 200.0, 1000.0)])
    scn = scenario.load(path)
    assert scn.steps == 40 and scn.phases == 1
    assert scn.load_w[0][5] == pytest.approx(125.0)  # t = 2.5 s
    assert scn.load_w[1].max() == 0.0 and scn.load_w[2].max() == 0.0  # single phase: all on L1
    assert scn.pv_w[0][30] == pytest.approx(750.0)  # t = 15 s
    assert scn.pv_w[0].max() <= 800.0  # never above the rating


def test_three_phase_layout_puts_each_column_on_its_phase(tmp_path):
    spec = dict(ISSUE_EXAMPLE, name="three", series="three.csv", phase_export_limit_w=[100, None, -1])
    path = write_example(tmp_path, spec, rows=[(0, 100.0, 200.0, 300.0, 400.0), (4, 300.0, 200.0, 100.0, 400.0)])
    scn = scenario.load(path)
    assert scn.phases == 3
    assert list(np.round(scn.load_w[0][:3], 6)) == [100.0, 105.0, 110.0]
    assert scn.load_w[1][0] == 200.0 and scn.load_w[2][10] == pytest.approx(250.0)
    assert scn.phase_export_limit_w == [100.0, None, None]  # null and -1 both mean "no limit on that phase"


def test_bad_scenarios_are_refused_with_a_reason(tmp_path):
    no_pv = dict(ISSUE_EXAMPLE, name="nopv", series="nopv.csv")
    path = write_example(tmp_path, no_pv, rows=[(0, 1.0, 2.0), (1, 1.0, 2.0)])
    path.with_suffix(".csv").write_text("t_s,load_w,pv_other_w\n0,1,2\n1,1,2\n2,1,2\n")
    with pytest.raises(scenario.ScenarioError, match="pv_inv1_w"):
        scenario.load(path)
    path.with_suffix(".csv").write_text("t_s,load_w,pv_inv1_w\n0,1,2\n1,1,2\n3,1,2\n")
    with pytest.raises(scenario.ScenarioError, match="regular"):
        scenario.load(path)
    hms = dict(ISSUE_EXAMPLE, inverters=[dict(ISSUE_EXAMPLE["inverters"][0], radio="cmt")])
    path = write_example(tmp_path, hms)
    assert scenario.load(path).cmt_region == "eu"  # the default region of a CMT2300A inverter
    for bad, match in ((dict(hms, cmt_region="uk"), "cmt_region"),
                       (dict(hms, inverters=[dict(hms["inverters"][0], radio="cmt2300a")]), "radio")):
        with pytest.raises(scenario.ScenarioError, match=match):
            scenario.load(write_example(tmp_path, bad))


def test_every_library_scenario_loads_and_the_oracle_runs():
    paths = sorted((ROOT / "scenarios").glob("*.json"))
    assert len(paths) >= 8
    for path in paths:
        scn = scenario.load(path)
        assert scn.steps * scn.step_s <= 3600.0  # keeps `make sim` fast
        assert sim.run(scn, "oracle").metrics["export_over_limit_wh"] == 0.0


def test_library_is_what_make_scenarios_writes(tmp_path):
    import make_scenarios

    make_scenarios.main(["--out", str(tmp_path)])
    written = sorted(tmp_path.iterdir())
    assert len(written) >= 16
    for path in written:
        assert (ROOT / "scenarios" / path.name).read_bytes() == path.read_bytes(), path.name


def test_violations_are_scored_on_the_true_grid_not_the_noisy_meter(tmp_path):
    noisy = dict(ISSUE_EXAMPLE, meter=dict(ISSUE_EXAMPLE["meter"], noise_pct=30.0, latency_s=0.9))
    scn = scenario.load(write_example(tmp_path, noisy))
    record = sim.run(scn, "simple", seed=1)
    truth = record.load_total_w - record.pv_total_w
    assert np.allclose(record.grid_phase_w.sum(axis=0), truth)
    over = np.maximum(0.0, -truth - scn.export_limit_w)
    assert record.metrics["export_over_limit_wh"] == pytest.approx(over.sum() * scn.step_s / 3600.0, abs=1e-3)


def test_failsafe_reaction_is_null_for_a_peer_that_holds_its_limit_through_a_dropout(tmp_path):
    scn = scenario.load(write_example(tmp_path))
    assert sim.run(scn, "simple").metrics["failsafe_reaction_s"] is None
    assert sim.run(scn, "hze").metrics["failsafe_reaction_s"] is None


def test_ours_runs_through_fleet_and_reading_and_fails_safe(tmp_path):
    pytest.importorskip("controller")
    scn = scenario.load(write_example(tmp_path))
    record = sim.run(scn, "ours")
    assert record.metrics["limit_commands"] > 0
    assert record.metrics["failsafe_reaction_s"] is not None and record.metrics["failsafe_reaction_s"] <= 5.0


def test_an_inverter_the_link_can_switch_off_goes_off_in_fail_safe_at_0_w(tmp_path):
    pytest.importorskip("controller")
    inverter = dict(ISSUE_EXAMPLE["inverters"][0], can_switch_off=True, ack_loss=0.0)
    scn = scenario.load(write_example(tmp_path, dict(ISSUE_EXAMPLE, inverters=[inverter])))
    record = sim.run(scn, "ours")
    in_dropout = (scn.times_s >= 125.0) & (scn.times_s < 180.0)
    assert record.limits_in_force_w[in_dropout].max() == 0.0
