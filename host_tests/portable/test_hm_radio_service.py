"""The Hoymiles link on its own fast timer: period, start/stop, and a limit delivered end to end."""

import allocs
import fleet
import hm_frames
import hm_link
import hm_radio
import machine
import nrf24
import nrf24_chip as fake
import report
from testkit import micropython_only, raises


class CountingLink:
    def __init__(self):
        self.steps = []

    def step(self, now_ms):
        self.steps.append(now_ms)


def let_scheduled_run():
    # On MicroPython a scheduled function runs at the next backwards jump.
    for _ in range(3):
        pass


def fire(service, periods, on_tick=None):
    timer = machine.active_timers()[service.timer_id]
    for _ in range(periods):
        due = timer._due_ms
        if on_tick is not None:
            on_tick(due)
        machine.run_timers(due)
        let_scheduled_run()


def test_the_service_steps_the_link_every_period_on_its_own_timer():
    machine.reset_hardware()
    machine.use_clock(machine.VirtualClock(start_ms=1000))
    link = CountingLink()
    clock = fake.Clock(0)
    service = hm_radio.RadioService(link, clock=lambda: clock.now_ms)
    service.start()
    timers = machine.active_timers()
    assert list(timers) == [hm_radio.TIMER_ID] and timers[2].period_ms == 4

    def advance(due):
        clock.now_ms = due

    fire(service, 5, advance)
    assert link.steps == [1004, 1008, 1012, 1016, 1020]
    service.stop()
    assert machine.active_timers() == {}
    raises(ValueError, hm_radio.RadioService, link, 4, 0)
    machine.use_clock(None)


def test_one_timer_steps_the_links_of_both_radios():
    machine.reset_hardware()
    machine.use_clock(machine.VirtualClock(start_ms=1000))
    nrf_link, cmt_link = CountingLink(), CountingLink()
    nrf_link.band = cmt_link.band = None  # as the nRF24 link has it
    clock = fake.Clock(0)
    service = hm_radio.RadioService(nrf_link, clock=lambda: clock.now_ms, second=cmt_link)
    service.start()

    def advance(due):
        clock.now_ms = due

    fire(service, 3, advance)
    assert nrf_link.steps == cmt_link.steps == [1004, 1008, 1012]
    assert report.radio_text(service, clock.now_ms) == "running, 3 steps, overruns 0"
    service.stop()
    machine.use_clock(None)


def test_a_limit_goes_out_and_is_acked_through_the_timer():
    machine.reset_hardware()
    machine.use_clock(machine.VirtualClock(start_ms=1000))
    clock = fake.Clock(1000)
    air = fake.Air(
        clock,
        seed=5,
        loss=10,
        ack_loss=10,
    )
    inverter = fake.HmInverter("114172818832")
    air.add(inverter)
    chip = fake.Chip(air)
    radio = nrf24.NRF24(chip.spi, chip.csn, chip.ce, chip.irq)
    table = fleet.Fleet(1)
    table.add(0, rated_w=800, inputs=2)
    link = hm_link.HoymilesLink(table, radio, hm_frames.serial_bytes("199980122304"), lambda: 755000000)
    link.add(0, hm_frames.serial_bytes("114172818832"))
    service = hm_radio.RadioService(link, clock=lambda: clock.now_ms)
    service.start()
    table.command(0, 2000, 1000)

    def advance(due):
        clock.now_ms = due

    fire(service, 500, advance)  # 2 s
    service.stop()
    machine.use_clock(None)
    assert table.cmd_state[0] == fleet.CMD_ACKED
    assert inverter.limit_dw == 2000
    assert table.output_seq[0] >= 1


@micropython_only
def test_a_tick_allocates_nothing():
    machine.reset_hardware()
    link = CountingLink()
    link.step = lambda now_ms: None
    service = hm_radio.RadioService(link, clock=lambda: 0)
    service.start()
    service.pending = False
    allocs.assert_free(lambda: service._tick(None))
    service.stop()
