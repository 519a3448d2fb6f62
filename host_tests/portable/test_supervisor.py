"""The excursion supervisor over synthetic meter traces, across the 2**30 tick wrap."""

import allocs
import events
import supervisor
from compat import TICKS_MAX, ticks_add, ticks_diff
from reading import Reading
from testkit import micropython_only, raises

# Every trace starts 20 s before the ticks wrap, so each test also crosses it.
START_MS = TICKS_MAX - 20000


class Trace:
    """A grid meter sending one sample per second, and a supervisor watching it."""

    def __init__(self, limit_w=0, phase_limits_w=None, **settings):
        self.ring = events.EventRing(32)
        self.sup = supervisor.Supervisor(self.ring, limit_w, phase_limits_w, **settings)
        self.reading = Reading(3)
        self.now_ms = START_MS

    def run(self, seconds, grid_w, phase_w=None, valid=True):
        """`seconds` samples of grid power (negative = export), one per second."""
        for _ in range(seconds):
            self.now_ms = ticks_add(self.now_ms, 1000)
            reading = self.reading
            reading.valid = valid
            if valid:
                reading.seq += 1
                reading.t_ms = self.now_ms
                reading.power_dw = grid_w * 10
                for phase in range(3):
                    reading.phase_power_dw[phase] = (grid_w * 10 // 3) if phase_w is None else phase_w[phase] * 10
            self.sup.step(self.now_ms, reading)

    def kinds(self):
        found = []
        while self.ring.pop():
            found.append(self.ring.last_kind)
        return found


def test_short_excursions_are_counted_but_not_stage2():
    trace = Trace(limit_w=600)
    trace.run(5, -500)
    trace.run(10, -700)  # 10 samples over: lasts from the first over to the first back under
    trace.run(5, -500)
    assert trace.sup.excursions == 1 and trace.sup.stage2_total == 0
    assert trace.kinds() == [events.EXCURSION]
    assert trace.ring.last_a == 1000  # peak 100 W over, in dW
    assert trace.ring.last_b == 10000


def test_an_excursion_over_15_s_is_a_stage2_event():
    trace = Trace(limit_w=0)
    trace.run(17, -50)
    trace.run(1, 20)
    assert trace.sup.stage2_total == 1 and trace.sup.trips == 0
    assert trace.kinds() == [events.STAGE2, events.EXCURSION]


def test_split_phase_watches_each_leg_and_ignores_l3():
    # 120/240 V split-phase: 100 W per leg; the limit given for the unused L3 does not apply
    # there, where the meter's noise reads a watt of export.
    trace = Trace(limit_w=150, phase_limits_w=[100, 100, 0], phases=2)
    trace.run(20, -141, (-20, -120, -1))  # L2 20 W over its limit, the total under its own
    trace.run(1, 0, (0, 0, -1))
    assert trace.sup.stage2_total == 1 and trace.sup.excursions == 1
    assert trace.kinds() == [events.STAGE2, events.EXCURSION]
    assert trace.ring.last_a == 200  # the peak: L2's 20 W, not L3's watt
    trace.run(20, -91, (-40, -50, -1))
    assert trace.sup.excursions == 1  # under every limit that applies
    raises(ValueError, supervisor.Supervisor, trace.ring, 0, None, 15, 60, 2, 600, 3600, 3000, 4)


def test_exactly_15_s_is_not_stage2():
    trace = Trace(limit_w=0)
    trace.run(15, -50)
    trace.run(1, 0)
    assert trace.sup.stage2_total == 0


def test_a_60_s_excursion_trips_and_locks_out():
    trace = Trace(limit_w=0, lockout_s=3600)
    trace.run(59, -10)
    assert not trace.sup.tripped
    trace.run(2, -10)
    assert trace.sup.tripped and trace.sup.trip_reason == supervisor.TRIP_LONG_EXCURSION
    assert trace.sup.trips == 1
    trace.run(10, 100)
    trace.run(3600 - 12, 100)
    assert trace.sup.tripped
    trace.run(3, 100)
    assert not trace.sup.tripped
    assert events.LOCKOUT_ENDED in trace.kinds()


def test_two_stage2_events_within_10_minutes_trip():
    trace = Trace(limit_w=100)
    trace.run(20, -200)
    trace.run(300, 0)
    assert not trace.sup.tripped
    trace.run(20, -200)
    assert trace.sup.tripped and trace.sup.trip_reason == supervisor.TRIP_STAGE2_EVENTS


def test_stage2_events_further_apart_than_the_window_do_not_trip():
    trace = Trace(limit_w=100)
    trace.run(20, -200)
    trace.run(700, 0)
    trace.run(20, -200)
    assert trace.sup.stage2_total == 2 and not trace.sup.tripped


def test_a_phase_over_its_own_limit_is_an_excursion():
    trace = Trace(limit_w=1000, phase_limits_w=[300, -1, 300])
    trace.run(20, -600, phase_w=[-400, -100, -100])
    trace.run(1, 0, phase_w=[0, 0, 0])
    assert trace.sup.stage2_total == 1
    assert trace.kinds()[-1] == events.EXCURSION and trace.ring.last_a == 1000


def test_a_meter_loss_ends_the_excursion_at_its_last_over_limit_sample():
    trace = Trace(limit_w=0)
    trace.run(10, -50)
    trace.run(100, -50, valid=False)
    assert not trace.sup.in_excursion
    trace.run(1, 10)
    assert trace.sup.stage2_total == 0 and trace.sup.excursions == 1
    assert trace.kinds() == [events.EXCURSION] and trace.ring.last_b == 9000


def test_a_silent_meter_ends_the_excursion_too():
    trace = Trace(limit_w=0)
    trace.run(10, -50)
    ended_ms = 0
    for _ in range(5):  # the loop goes on, no new sample arrives
        trace.now_ms = ticks_add(trace.now_ms, 1000)
        trace.sup.step(trace.now_ms, trace.reading)
        if not ended_ms and not trace.sup.in_excursion:
            ended_ms = trace.now_ms
    assert not trace.sup.in_excursion and trace.sup.stage2_total == 0
    # Stamped when found ended (so the log stays in time order); its duration runs to the last sample over.
    assert trace.kinds() == [events.EXCURSION] and trace.ring.last_t_ms == ended_ms
    assert trace.ring.last_b == 9000


def test_installer_reset_ends_the_lockout():
    trace = Trace(limit_w=0)
    trace.run(61, -10)
    assert trace.sup.tripped
    trace.sup.reset(trace.now_ms)
    assert not trace.sup.tripped and trace.kinds()[-1] == events.RESET
    trace.run(1, 0)
    trace.run(20, -10)  # the stage-2 history was cleared too
    assert not trace.sup.tripped


def test_counters_and_lockout_survive_a_reboot():
    trace = Trace(limit_w=0, lockout_s=7200)
    trace.run(20, -10)
    trace.run(100, 0)
    trace.run(65, -10)
    trace.run(500, 0)
    state = [0] * trace.sup.state_size()
    trace.sup.save_into(state)
    rebooted = Trace(limit_w=0, lockout_s=7200)
    rebooted.sup.load_from(state)
    assert rebooted.sup.tripped and rebooted.sup.trips == 1 and rebooted.sup.stage2_total == 2
    assert rebooted.sup.lockout_left_s == trace.sup.lockout_left_s
    rebooted.run(20, -10)  # one more stage-2 event inside the restored window trips no second time
    assert rebooted.sup.trips == 1
    raises(ValueError, Trace(stage2_max=3).sup.load_from, state)


def test_version_grows_only_when_there_is_something_to_save():
    trace = Trace(limit_w=0, lockout_s=3600)
    trace.run(100, 0)
    trace.run(10, -10)
    trace.run(1, 0)
    assert trace.sup.version == 0  # a short excursion changes nothing saved
    trace.run(61, -10)
    after_trip = trace.sup.version
    assert after_trip == 2  # the stage-2 event, then the trip
    trace.run(599, 0)
    assert trace.sup.version == after_trip
    trace.run(2, 0)
    assert trace.sup.version == after_trip + 1  # lockout progress saved every LOCKOUT_SAVE_S


def _assert_steps_free(trace, samples):
    """Feed `samples` samples of 30 s excursions and 10 s back under; none may allocate."""
    reading = trace.reading
    sup = trace.sup
    ring = trace.ring

    def sample():
        reading.seq += 1
        reading.t_ms = ticks_add(reading.t_ms, 1000)
        reading.power_dw = -100 if reading.seq % 40 < 30 else 100
        sup.step(reading.t_ms, reading)
        while ring.pop():
            pass

    reading.valid = True
    allocs.assert_free(sample, samples)


@micropython_only
def test_step_allocates_nothing():
    _assert_steps_free(Trace(limit_w=0), 3000)


@micropython_only
def test_step_allocates_nothing_while_commissioning():
    trace = Trace(limit_w=0, trip_s=20)
    trace.sup.commission(3 * 3600, trace.now_ms)  # longer than the samples
    _assert_steps_free(trace, 2000)  # excursions of 30 s: trips held
    assert trace.sup.trips == 0 and trace.sup.commission_left_s > 0


def _kinds_and_args(trace):
    found = []
    while trace.ring.pop():
        found.append((trace.ring.last_kind, trace.ring.last_a, trace.ring.last_b))
    return found


def test_thirty_minutes_of_commissioning_with_a_wrong_sign_record_but_never_trip():
    """A meter wired the wrong way shows 500 W of export for the whole commissioning, time-accelerated."""
    trace = Trace(limit_w=0)
    trace.sup.commission(30 * 60, trace.now_ms)
    trace.run(29 * 60, -500)
    sup = trace.sup
    assert not sup.tripped and sup.trips == 0 and sup.lockout_left_s == 0
    assert sup.in_excursion and sup.stage2_total == 1 and 55 <= sup.commission_left_s <= 61
    found = _kinds_and_args(trace)
    assert found[0] == (events.COMMISSION, 1800, 0)
    # One stage-2 event and one held trip for the one long excursion, not one per sample.
    assert [kind for kind, _, _ in found[1:]] == [events.STAGE2, events.TRIP_HELD]
    assert found[2][1:] == (supervisor.TRIP_LONG_EXCURSION, 1)  # held: commissioning
    trace.run(62, -500)  # commissioning ends by itself; the excursion going on starts afresh
    found = _kinds_and_args(trace)
    assert found[:2] == [(events.EXCURSION, 5000, found[0][2]), (events.COMMISSION, 0, 0)]
    assert found[0][2] >= 29 * 60 * 1000
    assert sup.commission_left_s == 0 and not sup.tripped and sup.in_excursion
    trace.run(61, -500)  # the wrong sign still there a minute later: now it trips
    assert sup.tripped and sup.trips == 1
    assert _kinds_and_args(trace)[-1] == (events.TRIP, supervisor.TRIP_LONG_EXCURSION, 0)


def test_stage2_events_while_commissioning_do_not_count_towards_a_trip_after():
    trace = Trace(limit_w=0, stage2_max=2)
    trace.sup.commission(120, trace.now_ms)
    for _ in range(3):
        trace.run(20, -50)
        trace.run(5, 0)
    assert trace.sup.stage2_total == 3 and not trace.sup.tripped
    trace.run(60, 0)  # commissioning over
    trace.run(20, -50)  # one stage-2 event after it: alone in the window
    assert trace.sup.stage2_total == 4 and not trace.sup.tripped


def test_commissioning_can_be_ended_early():
    trace = Trace(limit_w=0)
    trace.sup.commission(600, trace.now_ms)
    trace.run(30, -50)
    trace.sup.commission(0, trace.now_ms)
    assert trace.sup.commission_left_s == 0 and not trace.sup.in_excursion
    trace.run(61, -50)
    assert trace.sup.tripped


def test_without_inverters_a_trip_is_impossible():
    trace = Trace(limit_w=0)
    trace.sup.inverters = 0
    trace.run(600, -1500)  # ten minutes of 1.5 kW export with nothing to limit
    assert not trace.sup.tripped and trace.sup.trips == 0
    found = _kinds_and_args(trace)
    assert [args for kind, *args in found if kind == events.TRIP_HELD] == [[supervisor.TRIP_LONG_EXCURSION, 2]]
    trace.sup.inverters = 2  # inverters added: the excursion going on starts afresh, they get trip_s to act
    trace.sup.restart_excursion()
    trace.run(59, -1500)
    assert not trace.sup.tripped
    trace.run(2, -1500)
    assert trace.sup.tripped


def test_commissioning_survives_a_reboot_and_an_older_state_loads_without_it():
    trace = Trace(limit_w=0)
    trace.run(1, 0)
    version = trace.sup.version
    trace.sup.commission(1800, trace.now_ms)
    assert trace.sup.version == version + 1
    trace.run(125, 0)
    assert trace.sup.version - version in (3, 4)  # saved every minute while commissioning
    state = [0] * trace.sup.state_size()
    trace.sup.save_into(state)
    rebooted = Trace(limit_w=0)
    rebooted.sup.load_from(state)
    assert rebooted.sup.commission_left_s == 1800 - 125
    old_shape = state[:-1]  # saved by a firmware before commissioning existed
    rebooted = Trace(limit_w=0)
    rebooted.sup.load_from(old_shape)
    assert rebooted.sup.commission_left_s == 0 and rebooted.sup.clock_s == trace.sup.clock_s
    raises(ValueError, rebooted.sup.load_from, state + [0])


def test_events_are_pushed_in_time_order():
    trace = Trace(limit_w=0)
    trace.run(20, -50)
    trace.run(3, -50, valid=False)
    trace.run(70, -50)
    stamps = []
    while trace.ring.pop():
        stamps.append(trace.ring.last_t_ms)
    assert len(stamps) >= 3
    assert all(ticks_diff(stamps[index + 1], stamps[index]) >= 0 for index in range(len(stamps) - 1))
