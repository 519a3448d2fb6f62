"""The issue's goals 1-4: the checker itself, then our controller over the scenario library."""

from pathlib import Path

import goals
import pytest
import sim

ROOT = Path(__file__).resolve().parent.parent


def result(over, lost, exc5=0, exc15=0, longest=0.0, failsafe=None, produced=100.0):
    return {"export_over_limit_wh": over, "lost_yield_wh": lost, "excursions_over_5s": exc5,
            "excursions_over_15s": exc15, "longest_excursion_s": longest, "failsafe_reaction_s": failsafe,
            "pv_produced_wh": produced}


def failures(rows, dropout=False):
    return [(v[1], v[3]) for v in goals.check(rows, {"s": dropout}) if not v[2]]


def test_a_peer_at_least_as_good_on_both_fails_goal_1():
    rows = [("s", "ours", result(1.0, 10.0)), ("s", "dpl", result(1.0, 10.0)), ("s", "oracle", result(0, 0))]
    assert [goal for goal, _ in failures(rows)] == [1]
    rows[1] = ("s", "dpl", result(0.5, 50.0))  # safer but harvests far less: fine
    assert failures(rows) == []


def test_a_peer_that_does_not_fail_safe_does_not_count_on_a_dropout_scenario():
    rows = [("s", "ours", result(1.0, 10.0, failsafe=4.0)), ("s", "hze", result(0.5, 9.0, failsafe=None))]
    assert [goal for goal, _ in failures(rows, dropout=True)] == [2]  # goal 2 still compares them
    rows[1] = ("s", "hze", result(0.5, 9.0, failsafe=3.0))
    assert sorted(goal for goal, _ in failures(rows, dropout=True)) == [1, 2]


def test_goal_2_compares_excursions_with_peers_that_harvest_about_as_much():
    rows = [("s", "ours", result(1.0, 10.0, exc5=2, longest=7.0)), ("s", "ahoy", result(3.0, 20.0, exc5=1))]
    assert failures(rows) == [(2, "vs ahoy: ours worse on excursions_over_5s, longest_excursion_s")]
    rows[1] = ("s", "ahoy", result(3.0, 20.1, exc5=1))  # lost yield > 1.5 x 10 + 5: not comparable
    assert failures(rows) == []


def test_goals_3_and_4():
    rows = [("s", "ours", result(0.0, 25.0, failsafe=5.5)), ("s", "oracle", result(0.0, 0.0, produced=100.0))]
    assert sorted(goal for goal, _ in failures(rows, dropout=True)) == [3, 4]
    rows[0] = ("s", "ours", result(0.0, 20.0, failsafe=5.0))
    assert failures(rows, dropout=True) == []


@pytest.mark.parametrize("seed", [1, 2])
def test_ours_meets_the_goals_on_every_library_scenario(seed):
    pytest.importorskip("controller")
    rows = sim.run_all(ROOT / "scenarios", seed, jobs=2)
    failed = [v for v in goals.check(rows, sim.has_dropout(ROOT / "scenarios")) if not v[2]]
    assert not failed, "\n".join("%s goal %d: %s" % (v[0], v[1], v[3]) for v in failed)
