"""A CMT2300A on its 3-wire SPI pins, and Hoymiles HMS/HMT inverters on the sub-GHz air behind it.

`Chip` decodes the pins like the part: CSB low starts a register access (R/W
bit, 7-bit address, 8 data bits sampled on SCLK rising edges; for a read the
chip drives SDIO and counts a `contention` if the master has not turned SDIO to
input); each FCSB pulse moves one FIFO byte in the direction FIFO_CTL selects.
Registers: MODE_CTL/MODE_STA (sleep, standby, RX, TX), INT_CLR1/2 and INT_FLAG
(TX done, packet ok, CRC ok), FIFO_CLR/FIFO_FLAG, FREQ_CHNL/FREQ_OFS, soft
reset, GPIO3 as INT2 (packet ok, active high) and the 32- or 64-byte (merged)
FIFO; in RX it stays listening and queues packets as length byte + payload.

It is heard and hears only when set up as the inverters expect, judged from
the register fields (not a copy of the driver's tables): packet mode, 0xAA
preamble, 4-byte sync word 0x4D485A48, variable length, FEC, IBM-16 CRC, no
whitening; and on the frequency the TX PLL registers and channel give
(26 MHz crystal: f = 13 MHz * (N + K / 2**20) + channel * FH_OFFSET * 2.5 kHz).
A frame is received only if the chip was in RX on that frequency for the whole
frame; a frame corrupted on the air fails the chip's CRC and is dropped.

`HmsInverter` answers like an HMS-800W-2T or an HMT-2250-6T (the layouts
of OpenDTU's HMS_2CH/HMT_6CH written out here independently of
lib/hm_models): it listens on its boot frequency (868 MHz) after power-up or
15 min without contact and moves to the channel a ChannelChange names;
answers carry the DTU's address in bytes 5-8; RealTimeRunData comes in
fragments one after the other, each lost (`fragment_loss`), corrupted on the
air (`corrupt`) or sent with a bad CRC8 (`bad_crc8`) with the given
probability in %; RequestFrame, DevInfoSimple, limits (HMS persistent codes
0x0002/0x0003, HMT the HM codes), PowerControl.

Portable (CPython and the MicroPython unix port); test code, it allocates.
"""

from nrf24_chip import Clock, Rng, crc8, crc16, put16  # noqa: F401 - Clock for the tests
from nrf24_chip import Pin as _NrfPin

# ---------------------------------------------------------------- timing on the air


def airtime_ms(length):
    """30 preamble + 4 sync bytes plain, length + payload + CRC16 FEC(7,4)-coded, at 20 kbps."""
    bits = 34 * 8 + (length + 3) * 14
    return (bits * 50 + 999) // 1000


# ---------------------------------------------------------------- pins


class Pin(_NrfPin):
    """A GPIO with a mode, as the CMT2300A driver sets SDIO's direction; otherwise the nRF24 fake's pin."""

    IN = 1
    OUT = 3

    def __init__(self, on_change=None, value=0):
        super().__init__(value, on_change)
        self.mode = Pin.OUT

    def init(self, mode=-1, pull=-1, value=None):
        if mode != -1:
            self.mode = mode
        if value is not None:
            self.value(value)


class SdioPin(Pin):
    """SDIO: what the master writes goes to the chip; what it reads is the chip's bit while the chip drives."""

    def __init__(self, chip):
        super().__init__()
        self._chip = chip

    def value(self, value=None):
        if value is None:
            return self._chip.sdio_level()
        self._chip.sdio_written(1 if value else 0)
        return None


class Gpio3Pin:
    def __init__(self, chip):
        self._chip = chip

    def __call__(self):
        return self.value()

    def value(self):
        return self._chip.gpio3_level()


# ---------------------------------------------------------------- the chip

MODE_CTL, MODE_STA, FREQ_CHNL, FREQ_OFS, IO_SEL = 0x60, 0x61, 0x63, 0x64, 0x65
INT2_CTL, FIFO_CTL, INT_CLR1, INT_CLR2, FIFO_CLR, INT_FLAG, FIFO_FLAG = 0x67, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E
PKT15, PKT17, SOFT_RESET = 0x46, 0x48, 0x7F
SLEEP, STBY, RX, TX = 1, 2, 5, 6
_GO = {0x02: STBY, 0x08: RX, 0x10: SLEEP, 0x40: TX}
TX_DONE_FLG = 0x08
PKT_OK, CRC_OK, SYNC_OK, PREAM_OK, PKT_ERR = 0x01, 0x02, 0x08, 0x10, 0x20


class Chip:
    def __init__(self, air):
        self.air = air
        self.regs = bytearray(0x80)
        self.state = STBY
        self.fifo = []
        self.sclk = Pin(self._sclk_changed)
        self.csb = Pin(self._csb_changed, value=1)
        self.fcsb = Pin(self._fcsb_changed, value=1)
        self.sdio = SdioPin(self)
        self.gpio3 = Gpio3Pin(self)
        self.master_released = lambda: self.sdio.mode == Pin.IN  # replaced when wired to machine pins
        self._master_bit = 0
        self._select = None  # "reg" or "fifo"
        self._bits = 0
        self._shift = 0
        self._address = -1
        self._read = False
        self._out = 0
        self._out_bit = 0
        self._tx_end_ms = None
        self._listen_since = None
        self.contention = 0  # reads while the master still drove SDIO
        self.register_writes = 0
        self.fifo_overflows = 0
        self.sent = []  # (start_ms, frequency_khz, frame)
        air.chips.append(self)

    # --- pins

    def wire(self, machine, pins):
        """Connect the chip to the fake `machine` pins of a board's "cmt" entry (sclk, sdio, csb, fcsb, gpio3)."""
        machine.watch_pin(pins["sclk"], self._sclk_changed)
        machine.watch_pin(pins["csb"], self._csb_changed)
        machine.watch_pin(pins["fcsb"], self._fcsb_changed)
        machine.watch_pin(pins["sdio"], self.sdio_written)
        machine.drive_pin(pins["sdio"], self.sdio_level)
        if pins.get("gpio3") is not None:
            machine.drive_pin(pins["gpio3"], self.gpio3_level)
        sdio = pins["sdio"]
        self.master_released = lambda: machine.pin_state(sdio).mode == machine.Pin.IN

    def sdio_written(self, level):
        self._master_bit = level

    def sdio_level(self):
        if self._driving():
            return (self._out >> (7 - self._out_bit)) & 1 if self._out_bit < 8 else 0
        return self._master_bit

    def gpio3_level(self):
        self._sync()
        if self.regs[IO_SEL] & 0x30 != 0x20 or self.regs[INT2_CTL] & 0x1F != 0x07:
            return 0
        return 1 if self.regs[INT_FLAG] & PKT_OK else 0

    def _driving(self):
        if self._select == "reg":
            return self._address >= 0 and self._read
        return self._select == "fifo" and not self.regs[FIFO_CTL] & 0x01

    def _csb_changed(self, level):
        if level == 0:
            self._select, self._bits, self._shift, self._address, self._read = "reg", 0, 0, -1, False
        else:
            self._select = None

    def _fcsb_changed(self, level):
        if level == 0:
            self._select, self._bits, self._shift = "fifo", 0, 0
            if not self.regs[FIFO_CTL] & 0x01:
                self._sync()
                self._out = self.fifo.pop(0) if self.fifo else 0
                self._out_bit = -1
        else:
            if self._bits == 8 and self.regs[FIFO_CTL] & 0x01 and len(self.fifo) < self._fifo_size():
                self.fifo.append(self._shift)
            self._select = None

    def _sclk_changed(self, level):
        if level == 0 or self._select is None:
            return
        if self._driving():
            if not self.master_released():
                self.contention += 1
            self._out_bit += 1
            return
        self._shift = ((self._shift << 1) | self._master_bit) & 0xFF
        self._bits += 1
        if self._select != "reg" or self._bits < 8:
            return
        if self._address < 0:
            self._address = self._shift & 0x7F
            self._read = bool(self._shift & 0x80)
            self._bits = 0
            if self._read:
                self._out = self._read_register(self._address)
                self._out_bit = -1
        else:
            self._write_register(self._address, self._shift)
            self._address = -1  # one register per CSB pulse

    # --- registers

    def _read_register(self, address):
        self._sync()
        if address == MODE_STA:
            return (self.regs[MODE_STA] & 0xF0) | self.state
        if address == FIFO_FLAG:
            return (0x20 if self.fifo and not self.regs[FIFO_CTL] & 0x04 else 0) | (
                0x02 if self.fifo and self.regs[FIFO_CTL] & 0x04 else 0)
        return self.regs[address]

    def _write_register(self, address, value):
        self.register_writes += 1
        self._sync()
        if address == SOFT_RESET and value == 0xFF:
            self.regs = bytearray(0x80)
            self.fifo = []
            self._set_state(STBY)
        elif address == MODE_CTL:
            if value in _GO:
                self._set_state(_GO[value])
        elif address == MODE_STA:
            self.regs[MODE_STA] = value & 0xF0
        elif address == INT_CLR1:
            if value & 0x04:
                self.regs[INT_CLR1] &= ~TX_DONE_FLG
        elif address == INT_CLR2:
            if value & 0x01:
                self.regs[INT_FLAG] &= ~(PKT_OK | PKT_ERR)
            if value & 0x02:
                self.regs[INT_FLAG] &= ~CRC_OK
            if value & 0x08:
                self.regs[INT_FLAG] &= ~SYNC_OK
            if value & 0x10:
                self.regs[INT_FLAG] &= ~PREAM_OK
        elif address == FIFO_CLR:
            if value & 0x03:
                self.fifo = []
        elif address == FREQ_CHNL and self.state == RX:
            self.regs[address] = value
            self._listen_since = self.air.clock.now_ms
        elif address not in (INT_FLAG, FIFO_FLAG):
            self.regs[address] = value

    def _fifo_size(self):
        return 64 if self.regs[FIFO_CTL] & 0x02 else 32

    # --- radio

    def configured(self):
        """Set up as the inverters' radios: packet mode, preamble, sync word, variable length, FEC, CRC."""
        r = self.regs
        return (
            r[0x38] & 0x03 == 0x02
            and r[0x39] | r[0x3A] << 8 >= 8
            and r[0x3B] == 0xAA
            and (r[0x3C] >> 1) & 0x07 == 3
            and bytes((r[0x44], r[0x43], r[0x42], r[0x41])) == b"MHZH"
            and r[0x45] & 0x01
            and r[0x4C] & 0x47 == 0x43
            and not r[0x4F] & 0x04
        )

    def frequency_khz(self):
        r = self.regs
        n = r[0x1C]
        k = r[0x1D] | r[0x1E] << 8 | (r[0x1F] & 0x0F) << 16
        base_hz = (13000000 * ((n << 20) + k) + (1 << 19)) >> 20
        return (base_hz + 500) // 1000 + r[FREQ_CHNL] * r[FREQ_OFS] * 5 // 2

    def _set_state(self, state):
        now = self.air.clock.now_ms
        self.state = state
        self._listen_since = now if state == RX else None
        if state == TX:
            length = self.regs[PKT15]
            frame = bytes(self.fifo[:length])
            self.fifo = []
            end = now + airtime_ms(length)
            self._tx_end_ms = end
            if self.configured() and length == len(frame):
                self.sent.append((now, self.frequency_khz(), frame))
                self.air.transmit(self.frequency_khz(), frame, now, end)

    def _sync(self):
        now = self.air.clock.now_ms
        if self.state == TX and self._tx_end_ms is not None and now >= self._tx_end_ms:
            self.regs[INT_CLR1] |= TX_DONE_FLG
            self.state = STBY  # TX exit state
            self._tx_end_ms = None
        if self.state != RX or not self.configured():
            return
        for frame, corrupted in self.air.heard(self.frequency_khz(), self._listen_since, now):
            self.regs[INT_FLAG] |= PREAM_OK | SYNC_OK
            if corrupted:
                self.regs[INT_FLAG] |= PKT_ERR  # the chip's CRC failed: dropped
                continue
            if len(self.fifo) + 1 + len(frame) > self._fifo_size():
                self.fifo_overflows += 1
                continue
            self.fifo.append(len(frame))
            self.fifo.extend(frame)
            self.regs[INT_FLAG] |= PKT_OK | CRC_OK


# ---------------------------------------------------------------- the air


class Air:
    def __init__(self, clock, seed=1, loss=0):
        self.clock = clock
        self.rng = Rng(seed)
        self.loss = loss  # % of the gateway's frames no inverter hears
        self.chips = []
        self.devices = []
        self.pending = []  # [start, end, frequency_khz, frame, corrupted]
        self.transmissions = 0

    def add(self, inverter):
        self.devices.append(inverter)
        inverter.air = self

    def transmit(self, frequency_khz, frame, start, end):
        self.transmissions += 1
        if self.rng.chance(self.loss):
            return
        for device in self.devices:
            if device.listening_khz(start) == frequency_khz:
                device.hear(frame, end)

    def send(self, frequency_khz, frame, start, corrupted=False):
        """An inverter's frame on the air from `start`; returns when it ends."""
        end = start + airtime_ms(len(frame))
        self.pending.append([start, end, frequency_khz, bytes(frame), corrupted])
        return end

    def heard(self, frequency_khz, since_ms, now_ms):
        """Frames on `frequency_khz` that started at or after `since_ms` and ended by `now_ms`; taken once."""
        taken = []
        keep = []
        for frame in self.pending:
            start, end, frequency, payload, corrupted = frame
            if end < now_ms - 2000:
                continue
            if end <= now_ms and frequency == frequency_khz and since_ms is not None and start >= since_ms:
                taken.append((payload, corrupted))
            elif end > now_ms:
                keep.append(frame)
            elif frequency != frequency_khz or since_ms is None or start < since_ms:
                continue  # over, and nobody listened to all of it
        self.pending = keep
        return taken


# ---------------------------------------------------------------- HMS/HMT inverters

BOOT_KHZ = 868000
FALLBACK_MS = 15 * 60000
_PARTS = {0x1144: b"\x10\x21\x41\x00", 0x1382: b"\x10\x33\x31\x00"}  # HMS-800W-2T, HMT-2250-6T


class HmsInverter:
    def __init__(self, serial_text, rated_w=800, available_w=600, dead_time_ms=5000, fragment_loss=0,
                 corrupt=0, bad_crc8=0):
        serial = int(serial_text, 16)
        self.prefix = serial >> 32
        self.three_phase = self.prefix >> 8 == 0x13
        self.frame_address = bytes(((serial >> 24) & 0xFF, (serial >> 16) & 0xFF, (serial >> 8) & 0xFF, serial & 0xFF))
        self.rated_w = rated_w
        self.available_dw = available_w * 10
        self.dead_time_ms = dead_time_ms
        self.fragment_loss = fragment_loss
        self.corrupt = corrupt
        self.bad_crc8 = bad_crc8
        self.air = None
        self.frequency_khz = BOOT_KHZ
        self.contact_ms = 0
        self.on = True
        self.limit_dw = rated_w * 10
        self.applied_limit_dw = self.limit_dw
        self._change_at_ms = None
        self.limit_codes = []
        self.limit_commands = 0
        self.persistent_writes = 0
        self.channel_changes = []  # (time, channel)
        self.power_commands = []
        self.requests = []
        self.bad_frames = 0
        self.answers_given = 0
        self.bad_crc16_next = False  # the next answer carries a wrong CRC16
        self.answer_to = None  # a 4-byte address: answer there instead of to the asking DTU
        self._last_answer = []
        self._dtu = b"\x00\x00\x00\x00"

    def listening_khz(self, now_ms):
        if self.frequency_khz != BOOT_KHZ and now_ms - self.contact_ms >= FALLBACK_MS:
            self.frequency_khz = BOOT_KHZ  # no contact for 15 min
        return self.frequency_khz

    def output_dw(self):
        self._apply(self.air.clock.now_ms)
        return min(self.available_dw, self.applied_limit_dw) if self.on else 0

    def _apply(self, now_ms):
        if self._change_at_ms is not None and now_ms >= self._change_at_ms:
            self.applied_limit_dw = self.limit_dw
            self._change_at_ms = None

    def hear(self, frame, end_ms):
        if len(frame) < 11 or crc8(frame[:-1]) != frame[-1]:
            self.bad_frames += 1
            return
        if frame[1:5] != self.frame_address:
            return
        self.contact_ms = end_ms
        self._dtu = self.answer_to or bytes(frame[5:9])
        mid = frame[0]
        if mid == 0x56 and len(frame) == 15:
            self.channel_changes.append((end_ms, frame[12]))
            if self.frequency_khz == BOOT_KHZ and frame[9:12] == b"\x02\x15\x21":
                self.frequency_khz = 860000 + frame[12] * 250
            return
        if mid == 0x15 and len(frame) == 11 and frame[9] & 0x80:
            self._resend(frame[9] & 0x7F, end_ms)
        elif mid == 0x15 and len(frame) == 27 and frame[9] == 0x80:
            if crc16(frame[10:24]) != (frame[24] << 8) | frame[25]:
                self.bad_frames += 1
                return
            self._multi(frame[10], end_ms)
        elif mid == 0x51 and frame[9] == 0x81:
            end = len(frame) - 3
            if crc16(frame[10:end]) != (frame[end] << 8) | frame[end + 1]:
                self.bad_frames += 1
                return
            self._dev_control(frame, end_ms)
        else:
            self.bad_frames += 1

    def _multi(self, data_type, now):
        self.requests.append((now, data_type))
        if data_type == 0x0B:
            payload = self._real_time()
        elif data_type == 0x00:
            payload = bytearray(b"\x27\x1c") + _PARTS[self.prefix] + bytearray(8)
        else:
            return
        self._answer(0x95, payload, now)

    def _real_time(self):
        out = self.output_dw()
        dc = out * 105 // 100
        if self.three_phase:
            p = bytearray(98)
            inputs = ((2, 4, 8, 12, 20), (2, 6, 10, 16, 22), (24, 26, 30, 34, 42), (24, 28, 32, 38, 44),
                      (46, 48, 52, 56, 64), (46, 50, 54, 60, 66))
            for offset, value in ((68, 2301), (70, 2302), (72, 2303), (80, 5001), (82, out), (86, out // 690),
                                  (88, out // 690 + 1), (90, out // 690 + 2), (92, 1000), (94, 412), (96, 3)):
                put16(p, offset, value)
        else:
            p = bytearray(42)
            inputs = ((2, 6, 10, 14, 22), (4, 8, 12, 18, 24))
            for offset, value in ((26, 2305), (28, 4998), (30, out), (34, out * 10 // 2305), (36, 1000), (38, 364),
                                  (40, 14)):
                put16(p, offset, value)
        put16(p, 0, 1)
        share = dc // len(inputs)
        for voltage, current, power, total, day in inputs:
            put16(p, voltage, 335)
            put16(p, current, share * 10 // 335)
            put16(p, power, share)
            put16(p, total + 2, 0x3BF4)
            put16(p, day, 1234)
        return p

    def _frame(self, mid, index, data):
        frame = bytearray((mid,)) + self.frame_address + self._dtu + bytearray((index,)) + data
        frame.append(crc8(frame))
        return frame

    def _answer(self, mid, payload, now):
        crc = crc16(payload) ^ (0x5A5A if self.bad_crc16_next else 0)
        self.bad_crc16_next = False
        data = bytes(payload) + bytes((crc >> 8, crc & 0xFF))
        count = (len(data) + 15) // 16
        frames = []
        for k in range(count):
            index = k + 1 if k + 1 < count else 0x80 | (k + 1)
            frames.append(self._frame(mid, index, data[16 * k : 16 * (k + 1)]))
        self._last_answer = frames
        self.answers_given += 1
        start = now + 10
        for frame in frames:
            if self.air.rng.chance(self.fragment_loss):
                start += airtime_ms(len(frame)) + 5  # its air time passes all the same
                continue
            start = self._send(frame, start) + 5

    def _send(self, frame, start):
        if self.air.rng.chance(self.bad_crc8):
            frame = bytearray(frame)
            frame[-1] ^= 0xFF  # sent wrong: the chip's CRC is fine, the frame's CRC8 is not
        return self.air.send(self.frequency_khz, frame, start, corrupted=self.air.rng.chance(self.corrupt))

    def _resend(self, index, now):
        self.requests.append((now, "fragment %d" % index))
        if 1 <= index <= len(self._last_answer):
            self._send(self._last_answer[index - 1], now + 10)

    def _dev_control(self, frame, now):
        sub = frame[10]
        if sub == 0x0B:
            value = (frame[12] << 8) | frame[13]
            code = (frame[14] << 8) | frame[15]
            self.limit_commands += 1
            self.limit_codes.append(code)
            self.requests.append((now, "limit"))
            persistent = code in (0x0100, 0x0101) if self.three_phase else code in (0x0002, 0x0003)
            self.persistent_writes += 1 if persistent else 0
            if code & 1:
                value = self.rated_w * value // 100
            self._apply(now)
            self.limit_dw = value
            self._change_at_ms = now + self.dead_time_ms
        elif sub in (0x00, 0x01):
            self.power_commands.append(sub)
            self.on = sub == 0x00
        else:
            return
        payload = bytearray((0, 0, sub, 0))
        crc = crc16(payload)
        self.answers_given += 1
        self._send(self._frame(0xD1, 0x81, payload + bytearray((crc >> 8, crc & 0xFF))), now + 20)
