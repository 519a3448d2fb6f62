"""The CMT2300A driver and the Hoymiles link for HMS/HMT, end to end against the pin-level fake chip."""

import allocs
import cmt2300a
import cmt2300a_chip as fake
import fleet
import hm_air
import hm_band
import hm_frames
import hm_link
import hm_models
from testkit import micropython_only, raises

HMS = "114412345678"  # an HMS-800W-2T
HMT = "138212345679"  # an HMT-2250-6T
DTU = "199980122304"
NOW_S2000 = 0x657206B8 - 946684800
STEP_MS = 2


class World:
    """A gateway (fake chip, real driver, link) and simulated HMS/HMT inverters on a simulated clock."""

    def __init__(self, serials=(HMS,), region="eu", mhz=865, seed=1, irq=True, **inverter_options):
        self.clock = fake.Clock(1000)
        self.air = fake.Air(self.clock, seed=seed)
        self.inverters = []
        for serial in serials:
            rated_w = 2250 if serial.startswith("1382") else 800
            inverter = fake.HmsInverter(serial, rated_w=rated_w, **inverter_options)
            self.air.add(inverter)
            self.inverters.append(inverter)
        self.chip = fake.Chip(self.air)
        spi = cmt2300a.Spi3(self.chip.sclk, self.chip.sdio, self.chip.csb, self.chip.fcsb)
        self.band = hm_band.Band(region, mhz)
        self.radio = cmt2300a.CMT2300A(spi, self.band.base_mhz, irq=self.chip.gpio3 if irq else None)
        self.fleet = fleet.Fleet(len(serials))
        self.link = hm_link.HoymilesLink(
            self.fleet, self.radio, hm_frames.serial_bytes(DTU), lambda: NOW_S2000, band=self.band
        )
        for row, serial in enumerate(serials):
            self.fleet.add(row, rated_w=self.inverters[row].rated_w, inputs=2)
            self.link.add(row, hm_frames.serial_bytes(serial))

    def run(self, duration_ms, step_ms=STEP_MS):
        end = self.clock.now_ms + duration_ms
        while self.clock.now_ms < end:
            self.clock.now_ms += step_ms
            self.link.step(self.clock.now_ms)

    def run_until(self, condition, limit_ms):
        end = self.clock.now_ms + limit_ms
        while not condition() and self.clock.now_ms < end:
            self.clock.now_ms += STEP_MS
            self.link.step(self.clock.now_ms)
        assert condition(), "not reached within %d ms" % limit_ms
        return self.clock.now_ms

    def acked(self, row=0):
        return self.fleet.cmd_state[row] == fleet.CMD_ACKED


# ----------------------------------------------------------------- the driver alone


def test_driver_sets_the_chip_up_as_the_inverters_expect_in_both_bands():
    for region, mhz, khz in (("eu", 865, 865000), ("us", 918, 918000), ("br", 927, 927000)):
        world = World(region=region, mhz=mhz)
        world.radio.set_channel(world.band.channel)
        assert world.chip.configured()
        assert world.chip.frequency_khz() == khz
        assert world.chip.state == fake.RX and world.chip.contention == 0
        assert world.chip.regs[fake.FIFO_CTL] & 0x02  # one 64-byte FIFO


def test_driver_finds_no_chip_on_silent_pins():
    chip = fake.Chip(fake.Air(fake.Clock()))
    silent = fake.Pin()  # SDIO that nothing drives: reads 0
    spi = cmt2300a.Spi3(chip.sclk, silent, chip.csb, chip.fcsb)
    raises(cmt2300a.RadioError, cmt2300a.CMT2300A, spi, 860)
    raises(ValueError, hm_band.Band, "eu", 915)  # outside 863..870 MHz
    raises(ValueError, hm_band.Band, "au", 0)


def frame_to(dtu, length, index):
    frame = bytearray(length)
    frame[0] = 0x95
    frame[1:5] = b"\x44\x12\x34\x56"
    frame[5:9] = dtu
    frame[9] = index
    frame[-1] = fake.crc8(frame[:-1])
    return bytes(frame)


def test_driver_sends_and_receives_variable_lengths_and_drops_what_fails_the_chip_crc():
    world = World()
    radio, chip, air = world.radio, world.chip, world.air
    radio.set_channel(20)
    buf = bytearray(32)
    sent = frame_to(b"\x80\x12\x23\x04", 19, 0x81)
    radio.send_start(None, sent, len(sent))
    assert radio.send_done() == hm_air.SEND_PENDING  # 19 bytes take 30 ms at 20 kbps
    world.clock.now_ms += 30
    assert radio.send_done() == hm_air.SEND_OK
    assert chip.sent[-1][1:] == (865000, sent) and chip.state == fake.RX
    frames = [frame_to(b"\x80\x12\x23\x04", length, k + 1) for k, length in enumerate((11, 27, 17, 32))]
    start = world.clock.now_ms + 5
    for k, frame in enumerate(frames):
        start = air.send(865000, frame, start, corrupted=(k == 2)) + 3
    got = []
    while world.clock.now_ms < start + 10:
        world.clock.now_ms += 4
        length = radio.recv_into(buf, world.clock.now_ms)
        while length:
            got.append(bytes(buf[:length]))
            length = radio.recv_into(buf, world.clock.now_ms)
    assert got == [frames[0], frames[1], frames[3]]
    air.send(866000, frames[0], world.clock.now_ms)  # another channel: never heard
    world.clock.now_ms += 100
    assert radio.recv_into(buf, world.clock.now_ms) == 0


def test_irq_pin_saves_spi_reads_while_nothing_arrived():
    world = World()
    buf = bytearray(32)
    before = world.chip.register_writes
    for _ in range(5):
        world.clock.now_ms += 4
        assert world.radio.recv_into(buf, world.clock.now_ms) == 0
    assert world.chip.register_writes == before
    world = World(irq=False)
    before = world.chip.register_writes
    world.radio.recv_into(buf, world.clock.now_ms)
    assert world.chip.register_writes > before  # without GPIO3 every call asks the chip


# ----------------------------------------------------------------- the link end to end


def test_boot_frequency_hand_over_then_live_data_on_the_working_frequency():
    world = World()
    inverter = world.inverters[0]
    assert inverter.frequency_khz == 868000
    world.run_until(lambda: world.fleet.output_seq[0] > 0, 3000)
    change = [entry for entry in world.chip.sent if entry[2][0] == 0x56]
    assert [(khz, frame[12]) for _, khz, frame in change] == [(868000, 20)]  # 865 MHz = channel 20
    assert inverter.frequency_khz == 865000
    assert all(khz == 865000 for _, khz, frame in world.chip.sent if frame[0] != 0x56)
    assert world.link.rated_w[0] == 800 and world.fleet.output_dw[0] == 6000
    data = world.link.data
    assert data.inputs == 2 and data.dc_voltage_dv[1] == 335 and data.ac_voltage_dv == 2305
    assert data.frequency_chz == 4998 and data.temperature_ddeg == 364


def test_an_inverter_back_on_its_boot_frequency_is_handed_over_again():
    world = World()
    world.run_until(lambda: world.fleet.output_seq[0] > 0, 3000)
    inverter = world.inverters[0]
    inverter.frequency_khz = 868000  # restarted (night, or 15 min without contact)
    seen = world.fleet.output_seq[0]
    world.run_until(lambda: world.fleet.output_seq[0] > seen, 180000)
    assert len(inverter.channel_changes) == 2 and inverter.frequency_khz == 865000
    assert world.link.reachable(0)


def test_hms_limits_are_non_persistent_and_the_persistent_one_uses_the_hms_code():
    world = World()
    world.run_until(lambda: world.fleet.output_seq[0] > 0, 3000)
    world.fleet.command(0, 3000, world.clock.now_ms)
    sent_at = world.clock.now_ms
    assert world.run_until(world.acked, 2000) - sent_at < 300
    inverter = world.inverters[0]
    assert inverter.limit_codes == [0x0000] and inverter.limit_dw == 3000
    world.run_until(lambda: world.fleet.output_dw[0] == 3000, 30000)  # dead time, then a paced poll
    assert world.link.configure_persistent_limit(0, 6000, world.clock.now_ms) == hm_frames.OK
    world.run_until(lambda: inverter.persistent_writes == 1, 3000)
    assert inverter.limit_codes[-1] == 0x0002


def test_hmt_reports_three_phases_and_keeps_the_hm_codes():
    world = World(serials=(HMT,))
    world.run_until(lambda: world.fleet.output_seq[0] > 0, 4000)
    data = world.link.data
    assert world.link.family[0] == hm_models.FAMILY_HMT_6T and world.link.rated_w[0] == 2250
    assert data.inputs == 6 and data.ac_power_dw == 6000
    assert list(data.phase_voltage_dv) == [2301, 2302, 2303]
    assert list(data.phase_current_ca) == [8, 9, 10]
    world.fleet.command(0, 9000, world.clock.now_ms)
    world.run_until(world.acked, 2000)
    assert world.link.configure_persistent_limit(0, 20000, world.clock.now_ms) == hm_frames.OK
    world.run_until(lambda: world.inverters[0].persistent_writes == 1, 3000)
    assert world.inverters[0].limit_codes == [0x0000, 0x0100]


def test_lost_and_corrupted_fragments_are_asked_for_again():
    world = World(serials=(HMT,), seed=7, fragment_loss=20, corrupt=15, bad_crc8=10)
    world.run(60000)
    inverter = world.inverters[0]
    assert world.fleet.output_seq[0] >= 3
    assert any(isinstance(what, str) and what.startswith("fragment") for _, what in inverter.requests)
    assert world.fleet.output_dw[0] == 6000


def test_a_bad_crc16_over_the_answer_is_never_taken_as_data():
    world = World()
    world.run_until(lambda: world.fleet.output_seq[0] > 0, 3000)
    inverter = world.inverters[0]
    inverter.available_dw = 4000
    inverter.bad_crc16_next = True
    polls = len([1 for _, what in inverter.requests if what == 0x0B])
    world.run_until(lambda: world.fleet.output_dw[0] == 4000, 30000)
    assert len([1 for _, what in inverter.requests if what == 0x0B]) >= polls + 2  # the bad one, then again


def test_answers_to_another_dtu_are_dropped():
    world = World()
    world.run_until(lambda: world.fleet.output_seq[0] > 0, 3000)
    inverter = world.inverters[0]
    inverter.available_dw = 2500
    world.fleet.command(0, 1000, world.clock.now_ms)
    inverter.answer_to = b"\x80\x99\x99\x99"  # its answers go to another DTU's address
    world.run(400)
    assert world.link.foreign >= 1 and not world.acked()
    inverter.answer_to = None
    world.run_until(world.acked, 4000)


def test_hms_and_hmt_share_the_radio_and_polls_stay_inside_the_eu_budget():
    world = World(serials=(HMS, HMT))
    world.run(300000, step_ms=4)  # five minutes
    used_ms = world.link.airtime.used_ms(world.clock.now_ms)
    # the poll share of 24 s/h, for 5 min, plus the first second's burst and the hand-overs
    assert used_ms <= 24000 * 5 // 60 + 1000 + 200, used_ms
    assert world.fleet.output_seq[0] >= 10 and world.fleet.output_seq[1] >= 10


def test_a_spent_budget_holds_polls_and_raising_commands_but_never_a_lowering_one():
    world = World()
    world.run_until(lambda: world.fleet.output_seq[0] > 0, 3000)
    world.fleet.command(0, 4000, world.clock.now_ms)
    world.run_until(world.acked, 2000)
    airtime = world.link.airtime
    while airtime.used_ms(world.clock.now_ms) < airtime.budget_ms:
        airtime.spend(32, False)  # another transmitter's hour, as far as the account knows
    seen = world.fleet.output_seq[0]
    world.fleet.command(0, 5000, world.clock.now_ms)  # raising: waits
    world.run(20000)
    assert world.fleet.output_seq[0] == seen and world.fleet.cmd_state[0] == fleet.CMD_QUEUED
    world.fleet.command(0, 2000, world.clock.now_ms)  # lowering: goes at once
    world.run_until(world.acked, 2000)
    assert world.inverters[0].limit_dw == 2000


def test_airtime_rolls_over_the_hour_and_paces_polls():
    airtime = hm_band.Airtime(36000)
    assert hm_band.frame_airtime_us(27) == 34600
    now = 5000
    assert airtime.may_poll(now)
    polls = 0
    for _ in range(3600):  # an hour in 1 s steps, polling whenever allowed
        now += 1000
        while airtime.may_poll(now):
            airtime.spend(27, True)
            polls += 1
    assert 690 <= polls <= 725  # 24 s/h poll share / 34.6 ms, plus a starting burst of 1 s
    assert airtime.used_ms(now) <= 24000 + 1000 + 35
    now += 3600000
    assert airtime.used_ms(now) == 0 and airtime.may_command(now)
    assert hm_band.Airtime(0).may_poll(now)  # no budget: US/BR


# ----------------------------------------------------------------- allocation


class QuietPin:
    """A pin that allocates nothing: SDIO reads a fixed level."""

    IN = 1
    OUT = 3

    def __init__(self, level=0):
        self.level = level

    def __call__(self, value=None):
        return self.level

    def init(self, mode=-1, pull=-1, value=None):
        pass


@micropython_only
def test_driver_send_and_receive_allocate_nothing():
    world = World()
    radio = world.radio
    frame = bytearray(27)
    buf = bytearray(32)
    radio._spi = cmt2300a.Spi3(QuietPin(), QuietPin(1), QuietPin(), QuietPin())  # every bit reads 1
    radio._irq = None

    def send():
        radio.set_channel(32)
        radio.send_start(None, frame, 27)
        radio.send_done()  # TX done: the flag reads set

    def receive():
        radio.recv_into(buf, 0)  # a FIFO of 0xFF: an impossible length, so RX restarts

    allocs.assert_free(send, 100)
    allocs.assert_free(receive, 100)


class ScriptRadio:
    """The radio interface with canned answers after each send, allocation-free."""

    def __init__(self):
        self.answers = ()
        self.next = 0
        self.channel = 0

    def listen(self, address):
        pass

    def set_channel(self, channel):
        self.channel = channel

    def send_start(self, address, buf, length):
        self.next = 0

    def send_done(self):
        return hm_air.SEND_OK

    def recv_into(self, buf, now_ms):
        if self.next >= len(self.answers):
            return 0
        frame = self.answers[self.next]
        self.next += 1
        for i in range(len(frame)):
            buf[i] = frame[i]
        return len(frame)


def test_a_hand_over_the_chip_never_sends_ends_on_the_working_channel():
    table = fleet.Fleet(1)
    table.add(0, rated_w=800, inputs=2)
    radio = ScriptRadio()
    radio.send_done = lambda: hm_air.SEND_FAILED  # TX done never came
    link = hm_link.HoymilesLink(table, radio, hm_frames.serial_bytes(DTU), lambda: -1, band=hm_band.Band("eu", 866))
    link.add(0, hm_frames.serial_bytes(HMS))
    channels = []
    radio.set_channel = channels.append
    for now in range(0, 100, 4):
        link.step(now)
    assert channels == [32, 32, 32, 32, 32, 24]  # five tries on 868 MHz, then back to 866 MHz
    assert not link.busy() and link.handover[0] == 0 and link.airtime.frames == 5


def answer_frames():
    inverter = fake.HmsInverter(HMS)
    inverter.air = fake.Air(fake.Clock())
    inverter._dtu = b"\x80\x12\x23\x04"
    payload = inverter._real_time()
    crc = fake.crc16(payload)
    data = bytes(payload) + bytes((crc >> 8, crc & 0xFF))
    frames = []
    for k in range(3):
        frames.append(bytes(inverter._frame(0x95, k + 1 if k < 2 else 0x83, data[16 * k : 16 * (k + 1)])))
    ack = bytearray(b"\x00\x00\x0b\x00\x14\x07")
    return tuple(frames), (bytes(inverter._frame(0xD1, 0x81, ack)),)


@micropython_only
def test_link_step_with_airtime_and_hand_over_allocates_nothing():
    table = fleet.Fleet(1)
    table.add(0, rated_w=800, inputs=2)
    radio = ScriptRadio()
    link = hm_link.HoymilesLink(table, radio, hm_frames.serial_bytes(DTU), lambda: NOW_S2000, band=hm_band.Band("eu"))
    link.add(0, hm_frames.serial_bytes(HMS))
    link.rated_w[0] = 800
    polled, acked = answer_frames()
    now = [0]

    def poll_cycle():
        # ChannelChange sent, done; the poll sent, sent, answered; idle
        radio.answers = polled
        link.handover[0] = 1
        now[0] += 20000
        for _ in range(6):
            link.step(now[0])

    def limit_cycle():
        radio.answers = acked
        table.command(0, 2500 if table.target_dw[0] != 2500 else 2400, now[0])
        link.step(now[0])
        link.step(now[0])
        link.step(now[0])

    poll_cycle()
    assert table.output_dw[0] == 6000, link.result
    limit_cycle()
    assert table.cmd_state[0] == fleet.CMD_ACKED
    allocs.assert_free(poll_cycle, 30)
    allocs.assert_free(limit_cycle, 30)
