"""The simulated plant: inverter dead time, ramp, quantisation and minimum; meter period,
latency, noise and dropouts; the radio link's service time, lost acks and DTU polls; a CMT2300A
link's polls paced by the firmware's airtime account."""

import random
import statistics

import pytest
from compat import TICKS_MAX, ticks_diff
from fleet import CMD_ACKED, CMD_FAILED, CMD_QUEUED, CMD_SENT, Fleet
from hm_band import Airtime, Band, frame_airtime_us
from peers import firmware_poll_period_ms
from plant import POLL_FRAME_LEN, TICKS_START, Inverter, Link, Meter, Radios, ticks

HM_800 = {"name": "inv1", "rated_w": 800, "phase": 1, "inputs": 2, "dead_time_s": 2.0, "ramp_w_per_s": 100.0,
          "limit_step_pct": 1.0, "command_s": 0.5, "ack_loss": 0.0}


def advance(inv, start_s, end_s, pv_w, dt=0.1):
    t, trace = start_s, []
    while t < end_s - 1e-9:
        inv.advance(t + dt, dt, pv_w)
        t += dt
        trace.append((round(t, 3), inv.output_w))
    return trace


def test_inverter_starts_at_full_limit_producing_what_the_sun_gives():
    inv = Inverter(HM_800, 500.0)
    assert inv.limit_w == 800 and inv.output_w == 500.0
    assert inv.min_w == 24.0  # 2 x 12 W beats 2 % of 800 W


def test_limit_acts_after_the_dead_time_then_ramps():
    inv = Inverter(HM_800, 700.0)
    inv.receive(0.0, 300.0)
    trace = dict(advance(inv, 0.0, 8.0, 700.0))
    assert trace[1.9] == 700.0  # dead time: nothing moves
    assert trace[2.0] == pytest.approx(690.0)  # the limit is in force, the output ramps at 100 W/s
    assert trace[3.0] == pytest.approx(590.0)
    assert trace[5.0] == pytest.approx(390.0)
    assert trace[6.0] == 296.0  # 300 W truncated to the inverter's 1 % (8 W) step
    assert trace[8.0] == 296.0


def test_ramp_up_is_limited_too_and_pv_caps_at_once():
    inv = Inverter(HM_800, 200.0)
    inv.output_w = 100.0
    inv.limit_w = 800.0
    trace = dict(advance(inv, 0.0, 1.0, 600.0))
    assert trace[1.0] == pytest.approx(200.0)
    inv.advance(1.1, 0.1, 50.0)  # a cloud: no ramp down, the panels just give less
    assert inv.output_w == 50.0


def test_limit_is_truncated_to_its_step_and_clamped_to_minimum_and_rating():
    inv = Inverter(HM_800, 800.0)  # 1 % steps of 800 W = 8 W
    assert inv.applied_limit(300.0) == 296.0
    assert inv.applied_limit(303.9) == 296.0
    assert inv.applied_limit(304.0) == 304.0
    assert inv.applied_limit(5.0) == 24.0  # the minimum
    assert inv.applied_limit(2000.0) == 800.0
    assert inv.applied_limit(0.0) == 0.0  # off
    fine = Inverter(dict(HM_800, limit_step_pct=0.1), 800.0)
    assert fine.applied_limit(300.55) == pytest.approx(300.0)


def test_newer_command_overrides_once_its_own_dead_time_passed():
    inv = Inverter(dict(HM_800, ramp_w_per_s=10000.0), 700.0)
    inv.receive(0.0, 300.0)
    inv.receive(1.0, 500.0)
    trace = dict(advance(inv, 0.0, 4.0, 700.0))
    assert trace[2.5] == 296.0
    assert trace[3.0] == 496.0


def meter(**extra):
    spec = {"position": "grid", "period_s": 1.0, "latency_s": 0.3, "noise_pct": 0.0, "dropouts_s": []}
    spec.update(extra)
    return Meter(spec, random.Random(1))


def run_meter(m, end_s, grid=(-100.0, 0.0, 0.0), load=(300.0, 0.0, 0.0), dt=0.1):
    deliveries = []
    for k in range(int(round(end_s / dt))):
        t = k * dt
        if m.update(t, list(grid), list(load)):
            deliveries.append((round(t, 3), m.total_w))
    return deliveries


def test_meter_samples_every_period_and_delivers_after_latency():
    deliveries = run_meter(meter(), 3.05)
    assert [t for t, _ in deliveries] == [0.3, 1.3, 2.3]
    assert all(w == -100.0 for _, w in deliveries)


def test_meter_value_is_the_grid_at_sample_time_not_delivery_time():
    m = meter(latency_s=0.5)
    assert not m.update(0.0, [-100.0, 0, 0], [0, 0, 0])
    assert not m.update(0.4, [999.0, 0, 0], [0, 0, 0])
    assert m.update(0.5, [999.0, 0, 0], [0, 0, 0])
    assert m.total_w == -100.0 and m.sample_t_s == 0.5


def test_load_side_meter_reads_the_load_and_sums_phases():
    m = meter(position="load", latency_s=0.0)
    m.update(0.0, [-100.0, 5.0, 5.0], [300.0, 20.0, 30.0])
    assert m.total_w == 350.0 and m.phase_w == [300.0, 20.0, 30.0]


def test_meter_noise_is_gaussian_percent_of_reading_and_seeded():
    values = [w for _, w in run_meter(meter(noise_pct=2.0, latency_s=0.0, period_s=0.1), 200.0, grid=(-1000, 0, 0))]
    assert abs(statistics.mean(values) + 1000.0) < 5.0
    assert 15.0 < statistics.stdev(values) < 25.0  # 2 % of 1000 W
    again = [w for _, w in run_meter(meter(noise_pct=2.0, latency_s=0.0, period_s=0.1), 200.0, grid=(-1000, 0, 0))]
    assert values == again


def test_meter_is_silent_during_a_dropout():
    m = meter(dropouts_s=[[2.0, 5.0]])
    times = [t for t, _ in run_meter(m, 8.0)]
    assert times == [0.3, 1.3, 5.3, 6.3, 7.3]
    assert not m.online(2.0) and not m.online(4.9) and m.online(5.0)


def make_link(ack_loss=0.0, telemetry_period_s=5.0, count=2):
    fleet = Fleet(count)
    inverters = []
    for i in range(count):
        fleet.add(i, rated_w=800, phase=0, inputs=2)
        inverters.append(Inverter(dict(HM_800, name="inv%d" % i, ack_loss=ack_loss), 700.0))
    return fleet, inverters, Link(fleet, inverters, random.Random(3), telemetry_period_s, 2.0)


def test_link_serves_one_command_at_a_time_and_acks_after_service_time():
    fleet, inverters, link = make_link()
    fleet.command(0, 3000, ticks(0.0))
    fleet.command(1, 4000, ticks(0.0))
    link.service(0.0)
    assert fleet.cmd_state[0] == CMD_SENT and fleet.cmd_state[1] == CMD_QUEUED
    link.service(0.4)
    assert fleet.cmd_state[0] == CMD_SENT and not inverters[0]._pending
    link.service(0.5)
    assert fleet.cmd_state[0] == CMD_ACKED and fleet.cmd_state[1] == CMD_SENT
    assert inverters[0]._pending[0] == (2.5, 296.0)  # 300 W, 1 % steps; in force after the 2 s dead time
    link.service(1.0)
    assert fleet.cmd_state[1] == CMD_ACKED
    assert link.sent == 2


def test_a_lost_answer_is_sent_again_after_the_window_and_fails_when_every_send_is_lost():
    fleet, inverters, link = make_link(ack_loss=1.0)  # answer window 2 s, 0.5 s per command
    fleet.command(0, 3000, ticks(0.0))
    fleet.command(1, 3000, ticks(0.0))
    for k in range(20):
        link.service(k * 0.1)
    assert inverters[0]._pending and fleet.cmd_state[0] == CMD_SENT  # the inverter got it at 0.5 s
    assert fleet.cmd_state[1] == CMD_QUEUED  # the radio is busy sending it again
    link.service(9.9)
    assert fleet.cmd_state[0] == CMD_SENT
    link.service(10.0)  # MAX_SENDS (5) sends, 2 s apart
    assert fleet.cmd_state[0] == CMD_FAILED and fleet.cmd_state[1] == CMD_SENT
    fleet, inverters, link = make_link(ack_loss=0.5)
    link._rng = random.Random(1)  # the first answer lost, the second one heard
    fleet.command(0, 3000, ticks(0.0))
    link.service(0.0)
    link.service(2.4)
    assert fleet.cmd_state[0] == CMD_SENT
    link.service(2.5)
    assert fleet.cmd_state[0] == CMD_ACKED


def test_dtu_polls_each_inverter_every_telemetry_period():
    fleet, inverters, link = make_link(telemetry_period_s=5.0)
    for k in range(200):
        link.service(k * 0.1)
    assert list(fleet.output_seq) == [4, 4]
    assert fleet.output_dw[0] == 7000


def test_ticks_start_just_before_the_wrap():
    assert ticks(0.0) == TICKS_START
    assert ticks(20.0) < ticks(0.0)  # wrapped
    assert ticks_diff(ticks(20.0), ticks(0.0)) == 20000
    assert ticks(10.0) == 0 and ticks(9.999) == TICKS_MAX


def test_each_command_draws_its_dead_time_and_commands_act_in_order():
    inv = Inverter(dict(HM_800, dead_time_jitter=[0.5, 2.0]), 700.0, random.Random(7))
    effects = []
    for k in range(50):
        inv.receive(10.0 * k, 300.0)
        effects.append(inv._pending[-1][0] - 10.0 * k)
    assert 1.0 <= min(effects) < 1.5 and 3.5 < max(effects) <= 4.0  # 2 s x U(0.5, 2)
    inv = Inverter(dict(HM_800, dead_time_jitter=[0.5, 2.0]), 700.0, random.Random(1))
    inv.receive(0.0, 300.0)
    inv.receive(0.1, 200.0)
    assert inv._pending[1][0] >= inv._pending[0][0]  # never before the command received earlier


def test_a_command_draws_the_dead_time_of_the_moment_it_arrives_whatever_came_before():
    spec = dict(HM_800, dead_time_jitter=[0.5, 2.0])
    busy, idle = Inverter(spec, 700.0, random.Random(7)), Inverter(spec, 700.0, random.Random(7))
    for k in range(20):  # one controller sends many commands, the other none
        busy.receive(1.0 * k, 300.0 + k)
    busy.receive(100.0, 300.0)
    idle.receive(100.0, 300.0)
    assert busy._pending[-1][0] == idle._pending[-1][0]
    idle.receive(200.0, 300.0)
    assert idle._pending[-1][0] - 200.0 != busy._pending[-1][0] - 100.0  # another moment, another draw


def test_a_limit_bound_inverter_settles_below_its_limit_a_pv_bound_one_does_not():
    inv = Inverter(dict(HM_800, settle_pct=1.0), 800.0)
    advance(inv, 0.0, 1.0, 900.0)
    assert inv.output_w == pytest.approx(792.0)  # 1 % below its 800 W limit
    advance(inv, 1.0, 20.0, 500.0)
    assert inv.output_w == 500.0  # the sun is the limit: all of it


def test_the_noise_floor_adds_to_each_of_the_grids_phases():
    m = Meter({"position": "grid", "period_s": 1.0, "latency_s": 0.0, "noise_pct": 0.0, "noise_floor_w": 3.0,
               "dropouts_s": []}, random.Random(2), phases=1)
    values = []
    for k in range(400):
        m.update(float(k), [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
        values.append(m.phase_w)
    assert 2.5 < statistics.pstdev(v[0] for v in values) < 3.5  # exact 0 W reads as +-3 W
    assert all(v[1] == 0.0 and v[2] == 0.0 for v in values)  # a single-phase grid has no L2, L3


def test_polls_take_radio_time_and_a_command_waits_for_them_unless_a_poll_is_late():
    fleet, inverters, link = make_link(telemetry_period_s=1.0)
    for inverter in inverters:
        inverter.poll_s = 0.3
    link._next_poll_s = [0.0, 0.0]
    link.service(0.0)  # a poll of inverter 0 starts
    fleet.command(1, 3000, ticks(0.1))
    link.service(0.1)
    assert fleet.cmd_state[1] == CMD_QUEUED and fleet.output_seq[0] == 0  # the radio is busy
    link.service(0.3)
    assert fleet.output_seq[0] == 1 and fleet.cmd_state[1] == CMD_SENT  # a command before a due poll
    link.service(0.8)  # the command delivered (0.5 s); then inverter 1's due poll
    assert fleet.cmd_state[1] == CMD_ACKED and link.polls == 2


def test_cuts_go_before_a_late_poll_largest_rank_first_and_a_raise_after_it():
    fleet, inverters, link = make_link(telemetry_period_s=1.0)
    link._polled = [True, True]
    link._next_poll_s = [-5.0, -5.0]  # both polls are late
    fleet.command(0, 3000, ticks(0.0))
    fleet.command(1, 2000, ticks(0.0))
    fleet.rank[1] = 20  # the controller's order, not the index
    link.service(0.0)
    assert fleet.cmd_state[1] == CMD_SENT and fleet.cmd_state[0] == CMD_QUEUED
    link.service(0.5)
    assert fleet.cmd_state[1] == CMD_ACKED and fleet.cmd_state[0] == CMD_SENT and link.polls == 0
    link.service(1.0)
    assert fleet.cmd_state[0] == CMD_ACKED
    fleet.command(0, 5000, ticks(1.0))  # a raise waits for the late polls
    inverters[0].poll_s = inverters[1].poll_s = 0.3
    link._next_poll_s = [-5.0, -5.0]
    polls = link.polls
    link.service(1.0)
    assert fleet.cmd_state[0] == CMD_QUEUED and link.polls == polls + 1


def test_the_poll_period_is_the_controllers_choice_and_drifts_by_the_jitter():
    fleet, inverters, link = make_link(telemetry_period_s=5.0)
    link.poll_period_s = 1.0
    link.jitter_s = 0.5
    for k in range(300):
        link.service(k * 0.1)
    assert 20 <= fleet.output_seq[0] <= 30  # every 1-1.5 s in 30 s, not every 5 s


def cmt_link(count=2, poll_period_s=1.0, region="eu"):
    """A CMT2300A link (hm_band's airtime account of `region`) asked to poll every `poll_period_s`."""
    fleet = Fleet(count)
    inverters = []
    for i in range(count):
        fleet.add(i, rated_w=800, phase=0, inputs=2)
        inverters.append(Inverter(dict(HM_800, name="hms%d" % i, poll_s=0.3), 700.0))
    link = Link(fleet, inverters, random.Random(3), poll_period_s, 2.0, airtime=Airtime(Band(region).budget_ms))
    return fleet, inverters, link


def run_link(link, seconds, dt=0.1, start_s=0.0):
    for k in range(int(round(seconds / dt))):
        link.service(start_s + k * dt)


def test_a_cmt_link_in_the_eu_polls_no_faster_than_the_firmware_airtime_allows():
    fleet, _, link = cmt_link(poll_period_s=1.0)  # a controller that asks for a 1 s poll
    run_link(link, 600.0)
    first = link.polls
    run_link(link, 3000.0, start_s=600.0)
    airtime = link.airtime
    # Polls may spend the budget less the command reserve per rolling hour, a burst of them at the start.
    share_polls = (airtime.budget_ms - airtime.reserve_ms) * 1000 / frame_airtime_us(POLL_FRAME_LEN)
    assert abs(link.polls - share_polls) <= 1, (link.polls, share_polls)
    assert first > link.polls / 6 + 10  # the start burst
    # The hour's polls stay out of the command reserve (the last one may end a frame past the share).
    frame_ms = frame_airtime_us(POLL_FRAME_LEN) // 1000 + 1
    assert airtime.used_ms(ticks(3599.9)) < airtime.budget_ms - airtime.reserve_ms + frame_ms
    # Round robin: both inverters get the same share, neither starves.
    assert abs(fleet.output_seq[0] - fleet.output_seq[1]) <= 1
    # An unpaced link would have polled every second.
    _, _, free = make_link(telemetry_period_s=1.0)
    run_link(free, 600.0)
    assert free.polls > 3 * first


def test_a_cmt_link_without_a_duty_cycle_rule_polls_as_asked():
    _, _, link = cmt_link(poll_period_s=1.0, region="us")
    run_link(link, 600.0)
    _, _, free = make_link(telemetry_period_s=1.0)
    run_link(free, 600.0)
    assert link.polls == free.polls and link.airtime.used_ms(ticks(600.0)) > 0


def test_a_lowering_command_is_never_held_back_by_the_airtime():
    fleet, inverters, link = cmt_link(poll_period_s=1.0)
    run_link(link, 300.0)  # the poll tokens are spent
    assert not link.airtime.may_poll(ticks(300.0))
    fleet.command(0, 3000, ticks(300.0))
    link.service(300.0)
    assert fleet.cmd_state[0] == CMD_SENT


def test_radios_give_each_family_its_own_link_and_ours_the_firmware_poll_periods():
    specs = [dict(HM_800, name="hm", radio="nrf24"), dict(HM_800, name="hms1", radio="cmt"),
             dict(HM_800, name="hms2", radio="cmt")]
    fleet = Fleet(3)
    for i in range(3):
        fleet.add(i, rated_w=800, phase=0, inputs=2)
    inverters = [Inverter(spec, 700.0) for spec in specs]
    radios = Radios(fleet, inverters, specs, 1, 5.0, 2.0, 0.0, "eu")
    nrf, cmt = radios.links
    assert (nrf.radio, nrf.rows, nrf.airtime) == ("nrf24", [0], None)
    assert (cmt.radio, cmt.rows) == ("cmt", [1, 2]) and cmt.airtime.budget_ms == Band("eu").budget_ms
    fleet.command(0, 3000, ticks(0.0))
    fleet.command(1, 3000, ticks(0.0))
    radios.service(0.0)  # one command on each radio at once
    assert fleet.cmd_state[0] == CMD_SENT and fleet.cmd_state[1] == CMD_SENT and radios.sent == 2
    assert firmware_poll_period_ms(nrf) == 2000 and firmware_poll_period_ms(cmt) == 5000
