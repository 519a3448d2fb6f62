"""Long random traces: the supervisor agrees with a plain reference model and stays in range.

The supervisor under test is the range-checked copy (ranges.load), so every
intermediate is also proven to stay within the ESP32's small ints, across
days of samples and the 2**30 tick wrap.
"""

import ranges
from hypothesis import given, settings
from hypothesis import strategies as st

STAGE2_S, TRIP_S, STAGE2_MAX, WINDOW_S, LOCKOUT_S = 15, 60, 2, 600, 4 * 3600


def reference(segments):
    """Count stage-2 events and trips over 1-second samples (True = over the limit)."""
    samples = [over for length, over in segments for _ in range(length)]
    stage2_times, stage2, trips, lockout_until = [], 0, 0, -1
    start = None
    for t, over in enumerate(samples, start=1):
        if over:
            if start is None:
                start, counted = t, False
            duration = t - start
            if duration > STAGE2_S and not counted:
                counted = True
                stage2 += 1
                stage2_times = (stage2_times + [t])[-STAGE2_MAX:]
                recent = [e for e in stage2_times if t - e <= WINDOW_S]
                if len(recent) >= STAGE2_MAX and t >= lockout_until:
                    trips, lockout_until = trips + 1, t + LOCKOUT_S
            if duration >= TRIP_S and t >= lockout_until:
                trips, lockout_until = trips + 1, t + LOCKOUT_S
        elif start is not None:
            if t - start > STAGE2_S and not counted:
                stage2 += 1
                stage2_times = (stage2_times + [t])[-STAGE2_MAX:]
                recent = [e for e in stage2_times if t - e <= WINDOW_S]
                if len(recent) >= STAGE2_MAX and t >= lockout_until:
                    trips, lockout_until = trips + 1, t + LOCKOUT_S
            start = None
    return stage2, trips


def run_supervisor(segments, start_ms):
    events = ranges.load("events")
    supervisor = ranges.load("supervisor", "events")
    reading_module = ranges.load("reading")
    ring = events.EventRing(8)
    sup = supervisor.Supervisor(ring, 600, None, STAGE2_S, TRIP_S, STAGE2_MAX, WINDOW_S, LOCKOUT_S)
    reading = reading_module.Reading(1)
    reading.valid = True
    now = start_ms
    for length, over in segments:
        for _ in range(length):
            now = (now + 1000) & 0x3FFFFFFF
            reading.seq += 1
            reading.t_ms = now
            reading.power_dw = -7000 if over else -5000
            sup.step(now, reading)
            while ring.pop():
                pass
    return sup


segments_strategy = st.lists(
    st.tuples(st.integers(min_value=1, max_value=200), st.booleans()), min_size=1, max_size=60
)


@settings(max_examples=150, deadline=None)
@given(segments=segments_strategy, start_ms=st.integers(min_value=0, max_value=(1 << 30) - 1))
def test_supervisor_matches_the_reference_model(segments, start_ms):
    sup = run_supervisor(segments, start_ms)
    assert (sup.stage2_total, sup.trips) == reference(segments)


def test_a_day_of_repeated_stage2_events_trips_once_per_lockout():
    # a 20 s excursion every 5 minutes for a day: trips every time a lockout ends and two events follow
    segments = [(20, True), (280, False)] * 288
    sup = run_supervisor(segments, (1 << 30) - 5000)
    assert sup.stage2_total == 288
    assert sup.trips == reference(segments)[1] == 6
