"""The Hoymiles link and its frame layer stay within the ESP32's small ints over whole sessions.

The link runs against the fake chip and simulated inverter with every
arithmetic result of the lib/ modules checked (ranges.load), over lossy air
with hypothesis choosing the seed, the losses, the targets and the clock.
"""

import cmt2300a_chip
import fleet
import nrf24
import nrf24_chip as fake
import ranges
from hypothesis import given, settings
from hypothesis import strategies as st

DEPENDENCIES = ("hm_crc", "hm_frames", "hm_models", "hm_answers", "hm_commands", "hm_fragments", "hm_air", "hm_band")
link_module = ranges.load("hm_link", *DEPENDENCIES)
band_module = ranges.load("hm_band")
cmt_module = ranges.load("cmt2300a", "hm_air")


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(1, 2**31),
    loss=st.integers(0, 40),
    fragment_loss=st.integers(0, 40),
    targets=st.lists(st.integers(0, 8000), min_size=1, max_size=3),
    clock_s=st.integers(0, (1 << 30) - 1),
    start_ms=st.integers(0, (1 << 30) - 1),
)
def test_link_session_stays_in_range(seed, loss, fragment_loss, targets, clock_s, start_ms):
    import hm_frames

    clock = fake.Clock(start_ms)
    air = fake.Air(clock, seed=seed, loss=loss, ack_loss=loss // 2)
    inverter = fake.HmInverter("114172818832", fragment_loss=fragment_loss, dead_time_ms=1000)
    air.add(inverter)
    chip = fake.Chip(air)
    radio = nrf24.NRF24(chip.spi, chip.csn, chip.ce, chip.irq)
    table = fleet.Fleet(1)
    table.add(0, rated_w=800, inputs=2)
    link = link_module.HoymilesLink(table, radio, hm_frames.serial_bytes("199980122304"), lambda: clock_s)
    link.add(0, hm_frames.serial_bytes("114172818832"))
    for target in targets:
        table.command(0, target, clock.now_ms & 0x3FFFFFFF)
        for _ in range(2000):  # 4 s each; the link's ticks wrap at 2**30 for late starts
            clock.now_ms += 2
            link.step(clock.now_ms & 0x3FFFFFFF)
    assert table.cmd_state[0] in (fleet.CMD_ACKED, fleet.CMD_FAILED)
    assert inverter.limit_commands + len(inverter.power_commands) >= 1 or loss
    assert inverter.persistent_writes == 0


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(1, 2**31),
    loss=st.integers(0, 30),
    fragment_loss=st.integers(0, 30),
    targets=st.lists(st.integers(0, 20000), min_size=1, max_size=3),
    start_ms=st.integers(0, (1 << 30) - 1),
)
def test_cmt_link_session_stays_in_range(seed, loss, fragment_loss, targets, start_ms):
    import hm_frames

    clock = cmt2300a_chip.Clock(start_ms)
    air = cmt2300a_chip.Air(clock, seed=seed, loss=loss)
    inverter = cmt2300a_chip.HmsInverter("138212345679", rated_w=2250, fragment_loss=fragment_loss, corrupt=loss)
    air.add(inverter)
    chip = cmt2300a_chip.Chip(air)
    band = band_module.Band("eu", 868)
    spi = cmt_module.Spi3(chip.sclk, chip.sdio, chip.csb, chip.fcsb)
    radio = cmt_module.CMT2300A(spi, band.base_mhz, irq=chip.gpio3)
    radio.set_channel(band.channel)
    table = fleet.Fleet(1)
    table.add(0, rated_w=2250, inputs=6)
    link = link_module.HoymilesLink(table, radio, hm_frames.serial_bytes("199980122304"), lambda: 800000000,
                                    band=band)
    link.add(0, hm_frames.serial_bytes("138212345679"))
    for target in targets:
        table.command(0, target, clock.now_ms & 0x3FFFFFFF)
        for _ in range(1500):  # 6 s each; ticks wrap at 2**30 for late starts
            clock.now_ms += 4
            link.step(clock.now_ms & 0x3FFFFFFF)
    assert table.cmd_state[0] in (fleet.CMD_ACKED, fleet.CMD_FAILED)
    assert inverter.persistent_writes == 0
    assert 0 < link.airtime.used_ms(clock.now_ms & 0x3FFFFFFF) < 36000
