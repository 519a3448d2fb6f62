"""Metric definitions: over-limit energy on the true grid power, excursions, lost yield,
fail-safe reaction, and the oracle's physical bound."""

import metrics
import numpy as np
import pytest


class FakeRun:
    def __init__(self, grid_phase_w, pv_total_w, export_limit_w=0.0, phase_limits=None, step_s=1.0):
        self.step_s = step_s
        self.grid_phase_w = np.array(grid_phase_w, dtype=float)
        self.pv_total_w = np.array(pv_total_w, dtype=float)
        self.export_limit_w = export_limit_w
        self.phase_export_limit_w = phase_limits
        self.limit_commands = 7
        self.failsafe_reaction_s = None
        self.stage2_events = 0
        self.trips = 0


def single_phase(grid):
    return [grid, [0.0] * len(grid), [0.0] * len(grid)]


def test_over_limit_energy_counts_only_export_beyond_the_limit():
    # 1 s steps, limit 100 W: 50 W over for 3600 s = 50 Wh; imports and export below the limit count nothing.
    grid = [-150.0] * 3600 + [-100.0] * 100 + [200.0] * 100
    run = FakeRun(single_phase(grid), [1000.0] * 3800, export_limit_w=100.0)
    m = metrics.score(run, oracle_pv_wh=0.0)
    assert m["export_over_limit_wh"] == pytest.approx(50.0)
    assert m["max_over_limit_w"] == 50.0
    assert m["seconds_over_limit"] == 3600.0
    assert m["longest_excursion_s"] == 3600.0
    assert m["limit_commands"] == 7


def test_excursions_are_runs_of_consecutive_over_limit_steps():
    over = np.array([0, 1, 1, 0] + [5] * 6 + [0] + [2] * 16 + [0.001] * 3, dtype=float)
    runs = metrics.excursions_s(over, 1.0)
    assert list(runs) == [2.0, 6.0, 16.0]  # 0.001 W is float noise, not an excursion
    grid = -over
    m = metrics.score(FakeRun(single_phase(grid), [0.0] * len(grid)), 0.0)
    assert m["excursions_over_5s"] == 2 and m["excursions_over_15s"] == 1
    assert m["longest_excursion_s"] == 16.0


def test_per_phase_over_limit_is_the_worst_of_total_and_each_phase():
    # Total -150 with limit 300 is fine; L1 exports 250 against its 100 W limit: 150 W over.
    grid = [[-250.0], [50.0], [50.0]]
    over = metrics.over_limit_w(np.array(grid), 300.0, [100.0, None, 100.0])
    assert over[0] == 150.0
    assert metrics.over_limit_w(np.array(grid), 300.0, None)[0] == 0.0
    assert metrics.over_limit_w(np.array([[-250.0], [-200.0], [50.0]]), 300.0, [100.0, None, 100.0])[0] == 150.0
    assert metrics.over_limit_w(np.array([[-250.0], [-200.0], [0.0]]), 300.0, [200.0, None, None])[0] == 150.0


def test_lost_yield_gives_no_credit_for_energy_exported_over_the_limit():
    # 1 h: produces 600 Wh of which 100 Wh over the limit; the oracle made 550 Wh.
    grid = [-100.0] * 3600
    run = FakeRun(single_phase(grid), [600.0] * 3600)
    m = metrics.score(run, oracle_pv_wh=550.0)
    assert m["pv_produced_wh"] == pytest.approx(600.0)
    assert m["export_over_limit_wh"] == pytest.approx(100.0)
    assert m["lost_yield_wh"] == pytest.approx(50.0)
    # Never negative, even for a run that somehow beats the oracle.
    assert metrics.score(FakeRun(single_phase([0.0] * 3600), [600.0] * 3600), 550.0)["lost_yield_wh"] == 0.0


def test_failsafe_reaction_is_time_from_dropout_start_to_safe_limits():
    times = np.arange(0, 100, 0.5)
    limits = np.where(times < 13.0, 800.0, 24.0)
    assert metrics.failsafe_reaction_s(times, limits, [(10.0, 30.0)], 24.0) == 3.0
    assert metrics.failsafe_reaction_s(times, limits, [], 24.0) is None
    # Never reached before the dropout ends: null.
    assert metrics.failsafe_reaction_s(times, limits, [(2.0, 8.0)], 24.0) is None
    # Several dropouts: the worst.
    limits2 = np.where((times < 13.0) | ((times >= 50) & (times < 54.5)), 800.0, 24.0)
    assert metrics.failsafe_reaction_s(times, limits2, [(10.0, 30.0), (50.0, 60.0)], 24.0) == 4.5


def test_oracle_curtails_exactly_to_the_limits_and_no_further():
    load = np.array([[300.0, 300.0, 2000.0], [0.0] * 3, [0.0] * 3])
    pv = np.array([[500.0, 200.0, 700.0]])
    out = metrics.oracle_outputs_w(load, pv, [0], 50.0, None)
    assert list(out[0]) == [350.0, 200.0, 700.0]


def test_oracle_honours_phase_limits_and_shares_a_phase_cut_by_availability():
    load = np.array([[100.0], [400.0], [0.0]])
    pv = np.array([[300.0], [100.0], [500.0]])  # two inverters on L1, one on L2
    out = metrics.oracle_outputs_w(load, pv, [0, 0, 1], 1000.0, [100.0, 100.0, 100.0])
    assert out[0, 0] + out[1, 0] == pytest.approx(200.0)  # L1: load 100 + 100 allowed
    assert out[0, 0] == pytest.approx(3 * out[1, 0])
    assert out[2, 0] == pytest.approx(500.0)  # L2 absorbs it all
    # The total limit binds as well: scale down all phases.
    out = metrics.oracle_outputs_w(load, pv, [0, 0, 1], 0.0, [100.0, 100.0, 100.0])
    assert out.sum() == pytest.approx(500.0)
