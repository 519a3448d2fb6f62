"""Fail-safe planning on its own: the plan within the limits, and when the hold starts."""

from array import array

import failsafe
import fleet
import reading


class Model:
    """What the plan reads from the InverterModel: the delivery time and the longest dead times."""

    def __init__(self, count, service_ms=200, dead_ms=3000):
        self.service_ms = service_ms
        self.dead_hi_ms = array("i", [dead_ms] * count)


def make(ratings=(800, 1500), phases=(0, 1), service_ms=200, dead_ms=3000):
    table = fleet.Fleet(len(ratings))
    for index, rated_w in enumerate(ratings):
        table.add(index, rated_w, phase=phases[index], inputs=2)
    return table, failsafe.FailsafePlan(table, Model(len(ratings), service_ms, dead_ms))


def test_the_plan_gives_minimums_then_what_the_limits_leave():
    table, plan = make()
    plan.plan(10000, array("i", (-1, -1, -1)))  # 1000 W in total
    assert list(plan.failsafe_dw) == [8000, 2000]  # minimums, then the rest up to the ratings, in order
    plan.plan(10000, array("i", (-1, 1000, -1)))  # and 100 W on L2
    assert list(plan.failsafe_dw) == [8000, 1000]
    assert table.min_dw[1] == 300  # 2 % of 1500 W


def test_the_plan_switches_off_where_it_can_and_notices_when_that_changes():
    table, plan = make()
    plan.plan(0, array("i", (-1, -1, -1)))
    assert list(plan.failsafe_dw) == [table.min_dw[0], table.min_dw[1]] and not plan.stale()
    table.can_switch_off[1] = 1
    assert plan.stale()
    plan.plan(0, array("i", (-1, -1, -1)))
    assert list(plan.failsafe_dw) == [table.min_dw[0], 0]


def samples(plan, r, times_ms):
    for t_ms in times_ms:
        r.valid = True
        r.seq += 1
        r.t_ms = t_ms
        plan.follow_sample(r)


def test_the_hold_waits_for_an_overdue_sample_and_then_for_the_lead_to_no_longer_fit():
    table, plan = make(service_ms=200, dead_ms=3000)
    plan.plan(0, array("i", (-1, -1, -1)))
    r = reading.Reading()
    samples(plan, r, (0, 1000, 2000))
    assert plan.interval_ms == 1000
    assert not plan.due(r.seq, 1100, 20000)  # on time
    assert plan.lead() == 2 * 200 + 3000  # both at their rating: two deliveries, then the dead time
    assert not plan.due(r.seq, 15500, 20000)
    assert plan.due(r.seq, 15600, 20000)  # 20 s - 3.4 s - one more interval
    assert plan.due(r.seq, 1200, 20000)  # held: the same sample stays stale
    samples(plan, r, (3000,))
    assert not plan.due(r.seq, 1000, 5000)  # a newer sample is judged afresh: on time
    assert plan.due(r.seq, 1200, 5000)  # 5 s: 3.4 s and an interval do not fit after 1.2 s


def test_a_tight_deadline_still_waits_until_a_sample_is_overdue():
    _, plan = make(dead_ms=10000)
    r = reading.Reading()
    samples(plan, r, (0, 1000))
    assert not plan.due(r.seq, 1100, 3000)
    assert plan.due(r.seq, 1101, 3000)


def test_the_lead_counts_only_the_inverters_not_at_their_failsafe_limit():
    table, plan = make(service_ms=500, dead_ms=2000)
    plan.plan(0, array("i", (-1, -1, -1)))
    plan.model.dead_hi_ms[1] = 9000
    table.command(1, plan.failsafe_dw[1], 0)
    assert plan.lead() == 500 + 2000  # only inverter 0: its delivery and its dead time
