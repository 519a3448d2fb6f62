"""The event ring keeps order, overwrites the oldest when full, and allocates nothing."""

import allocs
import eventlog
import events
from testkit import micropython_only


def test_events_come_out_in_order_with_their_data():
    ring = events.EventRing(4)
    assert ring.pop() == 0
    ring.push(events.BOOT, 10)
    ring.push(events.EXCURSION, 20, 1234, 16000)
    assert ring.pop() == events.BOOT and ring.last_t_ms == 10
    assert ring.pop() == events.EXCURSION
    assert (ring.last_t_ms, ring.last_a, ring.last_b) == (20, 1234, 16000)
    assert ring.pop() == 0


def test_a_full_ring_drops_the_oldest_and_counts_it():
    ring = events.EventRing(3)
    for t_ms in range(5):
        ring.push(events.METER_LOST, t_ms)
    assert ring.lost == 2
    times = []
    while ring.pop():
        times.append(ring.last_t_ms)
    assert times == [2, 3, 4]


def test_every_kind_has_a_name():
    kinds = [value for name, value in sorted(events.__dict__.items()) if name.isupper()]
    assert sorted(kinds) == list(range(1, len(eventlog.NAMES)))  # NAMES is indexed by kind


@micropython_only
def test_push_and_pop_allocate_nothing():
    ring = events.EventRing(8)

    def cycle():
        ring.push(events.STAGE2, 5, 100, 20000)
        ring.push(events.TRIP, 6, 1)
        ring.pop()
        ring.pop()

    allocs.assert_free(cycle)
