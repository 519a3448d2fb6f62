"""The peers follow their documented laws and timing (peer-controllers.md 1-4)."""

import inspect

import peers
import pytest
from fleet import CMD_ACKED, CMD_FAILED, CMD_QUEUED, Fleet


class StubMeter:
    def __init__(self, period_s=1.0):
        self.period_s = period_s
        self.seq = 0
        self.total_w = 0.0
        self.silent = False

    def online(self, t_s):
        return not self.silent

    def deliver(self, total_w):
        self.seq += 1
        self.total_w = total_w


class StubScenario:
    def __init__(self, ratings, export_limit_w=0.0, position="grid"):
        self.export_limit_w = export_limit_w
        self.phase_export_limit_w = None
        self.phases = 1
        self.meter = {"position": position}
        self.inverters = [{"rated_w": r, "inputs": 2} for r in ratings]

    @property
    def min_output_w(self):
        return [max(0.02 * inv["rated_w"], 24.0) for inv in self.inverters]


def site(ratings=(800,), export_limit_w=0.0, position="grid", period_s=1.0):
    fleet = Fleet(len(ratings))
    for i, rated in enumerate(ratings):
        fleet.add(i, rated_w=rated, inputs=2)
    return peers.Site(StubScenario(ratings, export_limit_w, position), fleet, StubMeter(period_s))


def report(s, index, output_w):
    s.fleet.report_output(index, int(output_w * 10), 0)


def test_site_maps_a_load_side_meter_to_grid_with_reported_output():
    s = site(position="load")
    report(s, 0, 500.0)
    s.meter.deliver(300.0)
    assert s.poll_meter(0.0) == -200.0
    s.meter.silent = True
    assert s.poll_meter(0.0) is None


def test_dpl_acts_once_per_command_ack_stats_meter_round_trip():
    s = site(export_limit_w=100.0)
    dpl = peers.Dpl(s)
    report(s, 0, 700.0)
    s.meter.deliver(-500.0)
    dpl.step(0.0)
    s.meter.deliver(-500.0)
    dpl.step(1.0)  # meter not 2 s newer than the stats
    assert s.fleet.next_queued() == -1
    s.meter.deliver(-500.0)
    dpl.step(2.2)
    # target = reported 700 + grid -500 - target consumption (-100) = 300 W
    assert s.fleet.next_queued() == 0 and s.fleet.target_dw[0] == 3000
    s.fleet.sent(0, 0)
    s.fleet.acked(0, 0)
    s.meter.deliver(-400.0)
    dpl.step(5.0)  # no stats after the ack yet: waits
    assert dpl.last_calc_s == 2.2
    report(s, 0, 300.0)
    dpl.step(5.1)
    s.meter.deliver(-100.0)
    dpl.step(7.2)
    assert dpl.last_calc_s == 7.2


def test_dpl_does_not_raise_a_pv_limited_inverter():
    s = site()
    dpl = peers.Dpl(s)
    dpl.limit_w[0] = 500.0
    assert dpl._max_increase(0, 300.0) == 0.0  # producing well below its limit: clouds
    assert dpl._max_increase(0, 495.0) == 300.0  # limit-bound: the headroom is the rating less the limit
    assert dpl._max_increase(0, 0.0) == dpl.LOWER_LIMIT_W


def test_dpl_falls_back_to_base_load_when_the_meter_is_stale():
    s = site(period_s=1.0)
    dpl = peers.Dpl(s)
    report(s, 0, 700.0)
    s.meter.deliver(-50.0)
    dpl.step(0.0)
    dpl.step(29.0)  # still valid: held (PowerMeterPending), no command
    assert s.fleet.target_dw[0] == 8000
    dpl.step(30.5)  # older than 30 s (3 x the 10 s default poll): invalid
    assert s.fleet.target_dw[0] == 1000  # BaseLoadLimit 100 W


def test_dpl_sends_a_failed_command_again_at_the_next_dtu_poll():
    s = site()
    dpl = peers.Dpl(s)
    dpl._set(0, 300.0, 0.0)
    s.fleet.sent(0, 0)
    s.fleet.failed(0, 100)
    dpl.step(0.5)
    assert s.fleet.cmd_state[0] == CMD_FAILED  # waits for the next poll
    report(s, 0, 700.0)
    dpl.step(1.0)
    assert s.fleet.cmd_state[0] == CMD_QUEUED and s.fleet.target_dw[0] == 3000
    assert dpl.pending[0]  # still the same update, until acked or 30 s


def test_dpl_tuned_aims_inside_the_limit_by_our_margin():
    import control_init  # the Controller's constructor (and its defaults) lives there

    margin_w = inspect.signature(control_init.controller).parameters["margin_w"].default
    s = site(export_limit_w=100.0)
    dpl = peers.DplTuned(s)
    assert dpl.target_consumption_w == -100.0 + margin_w == -88.0 and peers.Dpl(s).target_consumption_w == -100.0


def test_ahoy_closes_half_the_error_on_the_minimum_of_its_ring():
    s = site(export_limit_w=0.0)
    ahoy = peers.Ahoy(s)
    ahoy.limit_w = [600.0]
    report(s, 0, 600.0)
    for t, grid in ((0.0, -100.0), (5.0, -300.0), (10.0, -200.0)):
        s.meter.deliver(grid)
        ahoy.step(t)
        if s.fleet.next_queued() == 0:
            s.fleet.sent(0, 0)
            s.fleet.acked(0, 0)
            report(s, 0, ahoy.limit_w[0])
    # Steps at 0 s (-100: 550 W), 5 s (min -300: 400 W), 10 s (min still -300: 250 W).
    assert ahoy.limit_w[0] == pytest.approx(250.0)


def test_ahoy_ignores_errors_within_tolerance_and_waits_for_the_ack():
    s = site()
    ahoy = peers.Ahoy(s)
    report(s, 0, 700.0)
    s.meter.deliver(-8.0)
    ahoy.step(0.0)
    assert s.fleet.next_queued() == -1
    ahoy.ring.clear()
    report(s, 0, 700.0)
    s.meter.deliver(-400.0)
    ahoy.step(5.0)
    assert ahoy.limit_w[0] == pytest.approx(600.0)
    report(s, 0, 650.0)
    s.meter.deliver(-300.0)
    ahoy.step(10.0)  # command not acknowledged: no new step
    assert ahoy.limit_w[0] == pytest.approx(600.0)
    s.fleet.sent(0, 0)
    s.fleet.acked(0, 0)
    ahoy.step(10.1)
    assert ahoy.limit_w[0] == pytest.approx(400.0)


def run_script(peer, s, until_s, grid_w, dt=0.1, ack=True, t=0.0):
    while t < until_s:
        s.meter.deliver(grid_w(t) if callable(grid_w) else grid_w)
        peer.step(t)
        if ack and s.fleet.next_queued() >= 0:
            i = s.fleet.next_queued()
            s.fleet.sent(i, 0)
            s.fleet.acked(i, 0)
        t = round(t + dt, 3)


def test_hze_jumps_to_max_on_import_and_approaches_export_slowly():
    s = site(ratings=(1000,), export_limit_w=0.0)
    hze = peers.Hze(s)
    assert hze.target_w == 25.0 and hze.max_point_w == 100.0  # band bottom on the 0 W limit
    report(s, 0, 1000.0)
    run_script(hze, s, 20.5, -600.0)
    # prev was at max: new = actual 1000 - 600 - 25 = 375, |1000 - 375| > 200: +20 % of 625
    assert hze.sent_w == [500]
    run_script(hze, s, 45.0, 150.0, t=20.5)  # import above the max point: straight to 100 %
    assert hze.sent_w == [1000]


def test_simple_adds_grid_and_allowed_export_to_its_old_limit_every_5_s():
    s = site(ratings=(800,), export_limit_w=100.0)
    simple = peers.Simple(s)
    run_script(simple, s, 0.05, -300.0)
    assert simple.limit_w == 800 - 300 + 100 - 5
    run_script(simple, s, 4.9, -300.0)
    assert simple.limit_w == 595  # nothing before the next 5 s
    simple._wake_s = 0.0
    run_script(simple, s, 0.05, -300.0)
    assert simple.limit_w == 595 - 300 + 100 - 5
    assert s.fleet.target_dw[0] == 3900
    assert s.fleet.cmd_state[0] == CMD_ACKED


def test_ahoy_applies_the_full_correction_to_every_inverter():
    s = site(ratings=(800, 400))
    ahoy = peers.Ahoy(s)
    ahoy.limit_w = [600.0, 300.0]
    report(s, 0, 600.0)
    report(s, 1, 300.0)
    s.meter.deliver(-200.0)
    ahoy.step(0.0)
    assert ahoy.limit_w == [500.0, 300.0]  # the first queued: 0.5 x 200 W, not its rating's share
    ahoy.step(1.0)
    assert ahoy.limit_w == [500.0, 200.0]  # the next: the same 100 W again


def test_hze_literal_aims_at_75_w_of_export_and_jumps_on_any_import():
    s = site(ratings=(1000,), export_limit_w=0.0)
    hze = peers.HzeLiteral(s)
    assert hze.target_w == -75.0 and hze.max_point_w == 0.0


def test_hze_approaches_slowly_from_the_actual_output_after_a_jump():
    s = site(ratings=(1000,), export_limit_w=0.0)
    hze = peers.Hze(s)
    report(s, 0, 400.0)  # at 100 % but making 400 W
    run_script(hze, s, 20.5, -300.0)
    # new = actual 400 - 300 - 25 = 75; |actual - new| = 325 > 200: +20 % of 325 = 140
    assert hze.sent_w == [140]
