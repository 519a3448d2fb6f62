"""The Hoymiles link and its frame layer stay within the ESP32's small ints over whole sessions.

The link runs against the fake chip and simulated inverter with every
arithmetic result of the lib/ modules checked (ranges.load), over lossy air
with hypothesis choosing the seed, the losses, the targets and the clock.
"""

import fleet
import nrf24
import nrf24_chip as fake
import ranges
from hypothesis import given, settings
from hypothesis import strategies as st

DEPENDENCIES = ("hm_crc", "hm_frames", "hm_models", "hm_answers", "hm_commands", "hm_fragments")
link_module = ranges.load("hm_link", *DEPENDENCIES)


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
