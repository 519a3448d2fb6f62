"""Per-inverter learning on its own: beliefs, dead time, ramp, settling, PV-bound output, doubt."""

import fleet
import inverter_model
from inverter_model import ACTING, DONE, NONE, PENDING


def make(rated_w=800, response_ms=3000, ramp_w_per_s=400):
    table = fleet.Fleet(1)
    table.add(0, rated_w, inputs=2)
    model = inverter_model.InverterModel(table, response_ms, 30000, ramp_w_per_s, 1000, 5, 30, 3, 10, 4000)
    return table, model


def command(table, model, limit_dw, now_ms, ack_ms=None):
    model.note_command(0, now_ms)
    table.command(0, limit_dw, now_ms)
    table.sent(0, now_ms)
    if ack_ms is not None:
        table.acked(0, ack_ms)
        model.follow(0, ack_ms)


def report(table, model, output_dw, t_ms):
    table.report_output(0, output_dw, t_ms)
    model.follow(0, t_ms)


def test_a_command_is_in_force_after_the_dead_time_and_the_ramp_of_its_step():
    table, model = make()
    assert model.belief[0] == DONE
    command(table, model, 3000, 0)
    assert model.belief[0] == PENDING and model.seen_at(0, 100) == 8000  # the higher of old and new
    table.acked(0, 200)
    model.follow(0, 200)
    # 800 W -> 300 W: 3 s dead time, then (500 - 24) W at 400 W/s = 1190 ms
    assert model.belief[0] == ACTING and model.effect_ms[0] == 200 + 3000 + 1190
    assert not model.in_force(0, 4389) and model.in_force(0, 4390)
    assert model.service_ms == 200


def test_a_late_output_lengthens_the_dead_time_an_early_one_shortens_it_by_a_sixteenth():
    table, model = make()
    command(table, model, 3000, 0, ack_ms=0)
    report(table, model, 8000, 4000)  # 4 s on: still the old output
    assert model.dead_ms[0] == 5000 and model.dead_hi_ms[0] == 5000
    report(table, model, 3000, 20000)
    command(table, model, 1000, 20000, ack_ms=20000)  # a clean cut: the one before is in force
    report(table, model, 2000, 21500)  # moving after 1.5 s
    assert model.dead_ms[0] == 5000 - (5000 - 1500) // 16
    assert model.dead_hi_ms[0] == 5000 - (5000 - model.dead_ms[0]) // 16  # the longest seen fades slowly


def test_a_command_sent_before_any_report_learns_the_dead_time_from_the_output_first_reported():
    """The fail-safe at start goes out before the first poll: the output it moves from is not the
    rating (assumed) but what the first report shows. An output that stays there is not moving."""
    table, model = make(rated_w=1500)
    command(table, model, 480, 0, ack_ms=200)
    for t_ms in range(800, 26000, 2100):  # 1344 W (the sun's) for 25 s after the acknowledgement
        report(table, model, 13440, t_ms)
    assert model.dead_ms[0] >= 24000 and model.dead_hi_ms[0] >= 24000
    report(table, model, 12260, 27800)  # then it moves
    assert model.dead_ms[0] >= 24000


def test_quick_draws_of_a_jittery_dead_time_do_not_make_the_slow_ones_trusted_too_early():
    """An HM-1500's dead time is drawn for each command (12.6-27 s): after one of 26 s, three quick
    cuts (13 s) leave the learned dead time near the slow end, so the next slow draw is not believed
    in force 10 s early (a raise taken as acting, a report of the old output read as short of sun)."""
    table, model = make(rated_w=1500, ramp_w_per_s=60)
    report(table, model, 15000, 0)
    command(table, model, 10000, 0, ack_ms=0)
    for t_ms in range(2000, 26000, 2000):  # not moving for 25 s
        report(table, model, 15000, t_ms)
    report(table, model, 10000, 120000)
    slow_ms = model.dead_ms[0]
    assert slow_ms >= 25000
    for cut in range(3):  # three clean cuts, each moving after 13 s
        start_ms = 200000 + cut * 100000
        command(table, model, 9000 - 1000 * cut, start_ms, ack_ms=start_ms)
        report(table, model, 9500 - 1000 * cut, start_ms + 13000)
        report(table, model, 9000 - 1000 * cut, start_ms + 60000)
    assert model.dead_ms[0] >= slow_ms - 3000


def test_an_unmoved_output_lengthens_the_dead_time_even_after_a_second_cut_but_never_shortens_it():
    table, model = make()
    command(table, model, 5000, 0, ack_ms=0)
    command(table, model, 4000, 2000, ack_ms=2000)  # sent before the first was in force: not clean
    report(table, model, 8000, 9000)  # 7 s after the second ack: the output has not moved since either
    assert model.dead_ms[0] == 8000
    command(table, model, 3000, 10000, ack_ms=10000)  # again before the one before was in force
    report(table, model, 3500, 11000)  # moving, but maybe from an earlier cut: teaches no shorter time
    assert model.dead_ms[0] == 8000


def test_a_report_under_every_limit_that_may_be_in_force_is_pv_bound_while_a_raise_acts():
    table, model = make()
    command(table, model, 6000, 0, ack_ms=0)
    report(table, model, 6000, 9000)  # in force, limit-bound
    command(table, model, 8000, 10000, ack_ms=10000)  # a raise, not in force yet
    report(table, model, 6000, 11000)  # at the old limit: the raise may not have acted
    assert model.avail_dw[0] == NONE
    report(table, model, 4500, 12000)  # under the old and the new limit: the sun is short
    assert model.avail_dw[0] == 4500 and model.seen_at(0, 12000) == 4500


def test_the_ramp_is_learned_from_two_reports_while_the_output_moves_down():
    table, model = make(ramp_w_per_s=400)
    report(table, model, 8000, 0)  # the output it moves from
    command(table, model, 1000, 0, ack_ms=0)
    report(table, model, 7000, 4000)
    report(table, model, 6000, 14000)  # 100 W in 10 s: a slow inverter
    rate = 1000 * 100 // (10000 // 10 + 1)  # 9.9 W/s in deci-watts per second
    assert model.ramp_dw_per_s[0] == 4000 + (rate - 4000) // 2  # half way to it


def test_a_report_below_a_limit_in_force_is_pv_bound_near_it_teaches_settling():
    table, model = make()
    report(table, model, 5000, 0)  # at its 800 W limit since start: 500 W, the sun is short
    assert model.avail_dw[0] == 5000 and model.ceiling(0) == 5000 + 400  # 5 % of 800 W above it
    report(table, model, 7920, 1000)  # 1 % below its limit: bound by it, settling
    assert model.avail_dw[0] == NONE and model.settle_dw[0] == 80 // 4
    assert model.seen_at(0, 1000) == 8000 - 20


def test_a_report_during_a_cut_bounds_what_the_meter_saw_and_a_late_one_postpones_it():
    table, model = make()
    command(table, model, 2000, 0, ack_ms=0)
    report(table, model, 6000, 3500)
    assert model.seen_at(0, 4000) == 8000  # taken high while the cut may not act
    assert model.seen_bound_at(0, 4000) == 6000  # but the output only moves down to the cut
    report(table, model, 5000, 6000)  # believed in force by now, yet 300 W above the cut
    assert not model.in_force(0, 6000) and model.belief[0] == ACTING


def test_an_inverter_not_yet_reported_has_no_report_that_bounds_what_the_meter_saw():
    """Before the first poll the output's time is no tick: a cut acknowledged just before the tick
    counter passes it must not take the (empty) output as reported."""
    table, model = make()
    ack_ms = (1 << 30) - 1000
    command(table, model, 2000, ack_ms - 200, ack_ms=ack_ms)
    assert model.seen_bound_at(0, 500) == 8000  # taken high: the cut may not act yet
    assert model.doubt(0) == 8000 - 2000


def test_doubt_and_rising_measure_what_an_acting_command_may_change():
    table, model = make()
    command(table, model, 2000, 0, ack_ms=0)
    assert model.doubt(0) == 8000 - 2000 and model.rising(0, 0) == 0  # a cut adds nothing the meter missed
    command(table, model, 5000, 500, ack_ms=500)  # a raise while the cut may not have acted
    assert model.doubt(0) == 8000 - 2000 and model.rising(0, 500) == 0  # still under what may be in force
    command(table, model, 7000, 60000, ack_ms=60000)  # a raise from 500 W in force
    assert model.doubt(0) == 7000 - 5000 and model.rising(0, 60000) == 7000 - 5000
    report(table, model, 6000, 61000)  # a report after the acknowledgement: the raise acts already
    assert model.rising(0, 60500) == 7000 - 5000  # a sample before the report
    assert model.rising(0, 61500) == 7000 - 6000  # one after it saw at least the reported output
    assert model.in_force(0, 70000) and model.rising(0, 70000) == 0  # in force: the meter shows it
