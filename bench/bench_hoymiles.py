"""Cost of the Hoymiles frame layer: building requests, and checking, reassembling and parsing an answer."""

import allocs
import hm_answers
import hm_commands
import hm_fragments
import hm_frames
import hm_models
from compat import ticks_diff, ticks_us

ROUNDS = 2000
INVERTER = b"\x72\x81\x88\x32"
DTU = b"\x80\x12\x23\x04"
ANSWER = [
    bytes.fromhex(text.replace(" ", ""))
    for text in (
        "95 82 97 74 01 82 97 74 01 01 00 01 01 4F 00 2F 00 9D 01 50 00 2F 00 9F 00 02 8A",
        "95 82 97 74 01 82 97 74 01 02 3B F4 00 02 35 06 09 B5 09 B0 09 01 13 86 01 2E DE",
        "95 82 97 74 01 82 97 74 01 83 00 00 00 0D 03 E8 01 6C 00 0E DD 00 4E",
    )
]
tx = bytearray(32)
fragments = hm_fragments.Fragments()
payload = bytearray(hm_fragments.PAYLOAD_MAX)
data = hm_answers.RealTime()


def build_limit():
    hm_commands.build_limit(tx, INVERTER, DTU, 4000, 0)


def build_poll():
    hm_commands.build_multi(tx, INVERTER, DTU, hm_commands.DT_REAL_TIME, 755000000)


def receive():
    fragments.reset()
    for i in range(3):
        frame = ANSWER[i]
        hm_frames.check(frame, len(frame))
        fragments.add(frame, len(frame))
    length = fragments.assemble(payload)
    hm_answers.parse_real_time(payload, length, hm_models.FAMILY_HM_2T, data)


def report(name, function):
    start = ticks_us()
    for _ in range(ROUNDS):
        function()
    elapsed_us = ticks_diff(ticks_us(), start)
    allocated = allocs.measure(function, 500).bytes_allocated
    print(
        "%-40s %6d ns per call (unix port), %d bytes allocated per 500 calls"
        % (name, elapsed_us * 1000 // ROUNDS, allocated)
    )


report("ActivePowerControl frame (19 bytes)", build_limit)
report("RealTimeRunData request (27 bytes)", build_poll)
report("answer: 3 x CRC8, reassembly+CRC16, parse", receive)


# --- the CMT2300A radio path (HMS/HMT) ------------------------------------------------

import cmt2300a  # noqa: E402
import cmt2300a_chip  # noqa: E402
import fleet  # noqa: E402
import hm_band  # noqa: E402
import hm_link  # noqa: E402


class CountingPin:
    """A pin that counts the calls the bit-banged SPI makes (each is a GPIO access on the device)."""

    IN = 1
    OUT = 3
    calls = 0

    def __call__(self, value=None):
        CountingPin.calls += 1
        return 0

    def init(self, mode=-1, pull=-1, value=None):
        CountingPin.calls += 1


spi3 = cmt2300a.Spi3(CountingPin(), CountingPin(), CountingPin(), CountingPin())
frame27 = bytearray(27)


def pin_calls(name, function):
    CountingPin.calls = 0
    function()
    print("%-40s %6d pin calls" % (name, CountingPin.calls))


pin_calls("CMT register write", lambda: spi3.write_reg(0x60, 0x02))
pin_calls("CMT register read", lambda: spi3.read_reg(0x6D))
pin_calls("CMT FIFO write, 27 bytes", lambda: spi3.write_fifo(frame27, 27))
pin_calls("CMT FIFO read, 28 bytes", lambda: spi3.read_fifo(frame27, 27))
report("CMT FIFO write, 27 bytes (counting pins)", lambda: spi3.write_fifo(frame27, 27))


def paced_polls(serials, minutes):
    """Polls per inverter and airtime when the link polls HMS inverters as often as the EU budget lets it."""
    clock = cmt2300a_chip.Clock(1000)
    air = cmt2300a_chip.Air(clock)
    chip = cmt2300a_chip.Chip(air)
    band = hm_band.Band("eu", 865)
    radio = cmt2300a.CMT2300A(cmt2300a.Spi3(chip.sclk, chip.sdio, chip.csb, chip.fcsb), 860, irq=chip.gpio3)
    table = fleet.Fleet(len(serials))
    link = hm_link.HoymilesLink(table, radio, hm_frames.serial_bytes("199980122304"), lambda: 757382400,
                                max_inverters=len(serials), poll_period_ms=1000, band=band)
    for row, serial in enumerate(serials):
        air.add(cmt2300a_chip.HmsInverter(serial))
        table.add(row, rated_w=800, inputs=2)
        link.add(row, hm_frames.serial_bytes(serial))
    end = clock.now_ms + minutes * 60000
    while clock.now_ms < end:
        clock.now_ms += 4
        link.step(clock.now_ms)
    polls = min(table.output_seq[row] for row in range(len(serials)))
    print("EU, %d HMS polled every 1 s if allowed: %d polls each in %d min (one per %d ms), airtime %d ms"
          % (len(serials), polls, minutes, minutes * 60000 // max(polls, 1), link.airtime.used_ms(clock.now_ms)))


for count in (1, 2, 4):
    paced_polls(["1144000000%02d" % k for k in range(count)], 10)
