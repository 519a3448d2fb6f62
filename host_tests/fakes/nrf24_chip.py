"""A register-level nRF24L01+ on a fake SPI bus, and Hoymiles HM inverters on the air behind it.

`Chip` decodes SPI transactions between CSN edges like the real part:
STATUS shifted out with the command byte, R/W_REGISTER with 5-byte address
registers, W_TX_PAYLOAD, R_RX_PL_WID, R_RX_PAYLOAD, FLUSH_TX/RX; a 3-deep RX
FIFO, TX FIFO, IRQ bits (write 1 to clear), IRQ pin (active low, maskable),
OBSERVE_TX counters, dynamic payload width per pipe and the channel. It
only hears and is heard on the air when configured as the inverters expect
(250 kbps, 2-byte CRC, 5-byte addresses, dynamic payloads), so a driver that
gets the setup wrong fails the tests instead of passing them.

`Air` is the radio world on a simulated millisecond clock. A transmission
with auto-ack is retried ARC times; each try can be lost (`loss`), and an
acknowledgement can be lost after the inverter did hear the frame
(`ack_loss`). Inverter answers are on the air for a window of
`window_ms` on one channel; the chip receives a frame only if it listened on
that channel during the window (its listening intervals are tracked on every
channel or mode change), so a driver that does not hop misses answers.

`HmInverter` answers like an HM-600/800 (2 inputs, the layout of OpenDTU's
HM_2CH, written out here independently of lib/hm_models): RealTimeRunData in
3 fragments 50 ms apart (each dropped with probability `fragment_loss`),
RequestFrame re-sends, DevInfoSimple, SystemConfigPara, limit commands (acked
with D1, applied after `dead_time_ms`), and PowerControl on/off/restart.

Portable: runs under CPython and the MicroPython unix port. It is test code
and allocates freely.
"""

# ---------------------------------------------------------------- checksums
# The reference algorithms, written again here so the fake does not trust lib/hm_crc.


def crc8(data):
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ (1 if crc & 0x80 else 0)) & 0xFF
    return crc


def crc16(data):
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


class Rng:
    """xorshift32: the same sequence on both runtimes, seeded per test."""

    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFF or 1

    def next(self):
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return x

    def chance(self, probability_pct):
        return self.next() % 100 < probability_pct


class Clock:
    def __init__(self, now_ms=0):
        self.now_ms = now_ms


# ---------------------------------------------------------------- pins and bus


class Pin:
    """A GPIO as machine.Pin is used by drivers: pin(v), pin.value([v]), on(), off()."""

    def __init__(self, value=1, on_change=None):
        self._value = value
        self._on_change = on_change

    def __call__(self, value=None):
        return self.value(value)

    def value(self, value=None):
        if value is None:
            return self._value
        value = 1 if value else 0
        if value != self._value:
            self._value = value
            if self._on_change is not None:
                self._on_change(value)
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class IrqPin:
    """The chip's IRQ output as an input pin: low while an unmasked interrupt is pending."""

    def __init__(self, chip):
        self._chip = chip

    def __call__(self):
        return self.value()

    def value(self):
        return self._chip.irq_level()


class SPI:
    """The subset of machine.SPI the driver uses, wired to one chip."""

    def __init__(self, chip):
        self._chip = chip

    def write(self, buf):
        for byte in buf:
            self._chip.exchange(byte)

    def readinto(self, buf, write=0):
        for i in range(len(buf)):
            buf[i] = self._chip.exchange(write)

    def write_readinto(self, out, into):
        for i in range(len(out)):
            into[i] = self._chip.exchange(out[i])


# ---------------------------------------------------------------- the chip

CONFIG, EN_AA, EN_RXADDR, SETUP_AW, SETUP_RETR, RF_CH, RF_SETUP, STATUS, OBSERVE_TX = range(9)
RX_ADDR_P0, RX_ADDR_P1, TX_ADDR, FIFO_STATUS, DYNPD, FEATURE = 0x0A, 0x0B, 0x10, 0x17, 0x1C, 0x1D
ADDRESS_REGS = (RX_ADDR_P0, RX_ADDR_P1, TX_ADDR)
RX_DR, TX_DS, MAX_RT = 0x40, 0x20, 0x10
PWR_UP, PRIM_RX = 0x02, 0x01


class Chip:
    def __init__(self, air):
        self.air = air
        self.regs = bytearray(0x1E)
        self.regs[CONFIG] = 0x08
        self.regs[EN_AA] = 0x3F
        self.regs[EN_RXADDR] = 0x03
        self.regs[SETUP_AW] = 0x03
        self.regs[SETUP_RETR] = 0x03
        self.regs[RF_CH] = 0x02
        self.regs[RF_SETUP] = 0x0E
        self.regs[STATUS] = 0x0E
        self.addr = {
            RX_ADDR_P0: bytearray(b"\xe7" * 5),
            RX_ADDR_P1: bytearray(b"\xc2" * 5),
            TX_ADDR: bytearray(b"\xe7" * 5),
        }
        self.rx_fifo = []  # (pipe, payload)
        self.tx_fifo = []
        self.csn = Pin(1, self._csn_changed)
        self.ce = Pin(0, self._ce_changed)
        self.irq = IrqPin(self)
        self.spi = SPI(self)
        self._command = None
        self._in = bytearray()
        self._out = bytearray()
        self._listen_since = None
        self._listen_channel = 0
        self.transactions = 0
        self.lost_rx_fifo_full = 0
        air.chips.append(self)

    def wire(self, machine, pins):
        """Connect the chip to the fake `machine` bus and pins of a board's "radio" entry (spi, csn, ce, irq)."""
        machine.SPI.wire(pins["spi"], self.spi)
        machine.watch_pin(pins["csn"], self.csn.value)
        machine.watch_pin(pins["ce"], self.ce.value)
        machine.drive_pin(pins["irq"], self.irq.value)

    # --- what the air needs to know

    def compatible(self):
        """Configured like the inverters: 250 kbps, 2-byte CRC, 5-byte addresses, dynamic payloads."""
        r = self.regs
        return (
            r[RF_SETUP] & 0x28 == 0x20
            and r[CONFIG] & 0x0C == 0x0C
            and r[SETUP_AW] & 3 == 3
            and r[FEATURE] & 0x04
            and r[DYNPD] & 0x03 == 0x03
        )

    def listening(self):
        r = self.regs
        return self.ce() and r[CONFIG] & (PWR_UP | PRIM_RX) == PWR_UP | PRIM_RX

    def irq_level(self):
        self._sync()
        pending = self.regs[STATUS] & ~self.regs[CONFIG] & (RX_DR | TX_DS | MAX_RT)
        return 0 if pending else 1

    # --- SPI

    def exchange(self, byte):
        if self.csn():
            return 0xFF  # not selected: MISO floats
        if self._command is None:
            self._sync()
            self._command = byte
            self._out = self._response(byte)
            return self.regs[STATUS] | self._status_low()
        self._in.append(byte)
        index = len(self._in) - 1
        return self._out[index] if index < len(self._out) else 0x00

    def _status_low(self):
        pipe = self.rx_fifo[0][0] if self.rx_fifo else 7
        return (pipe << 1) | (1 if len(self.tx_fifo) >= 3 else 0)

    def _response(self, command):
        if command < 0x20:
            return self._read_register(command)
        if command == 0x60:
            return bytearray((len(self.rx_fifo[0][1]) if self.rx_fifo else 0,))
        if command == 0x61:
            return bytearray(self.rx_fifo[0][1]) if self.rx_fifo else bytearray()
        return bytearray()

    def _read_register(self, reg):
        if reg in ADDRESS_REGS:
            return bytearray(self.addr[reg])
        if reg == STATUS:
            return bytearray((self.regs[STATUS] | self._status_low(),))
        if reg == FIFO_STATUS:
            value = (0x10 if not self.tx_fifo else 0) | (0x20 if len(self.tx_fifo) >= 3 else 0)
            value |= (0x01 if not self.rx_fifo else 0) | (0x02 if len(self.rx_fifo) >= 3 else 0)
            return bytearray((value,))
        return bytearray((self.regs[reg],))

    def _csn_changed(self, value):
        if value == 0:
            self._command = None
            self._in = bytearray()
            return
        command = self._command
        self._command = None
        if command is None:
            return
        self.transactions += 1
        self._finish(command, self._in)
        self._after_change()

    def _finish(self, command, data):
        if 0x20 <= command < 0x40 and data:
            self._write_register(command & 0x1F, data)
        elif command == 0x61 and self.rx_fifo:
            self.rx_fifo.pop(0)
        elif command == 0xA0 and len(self.tx_fifo) < 3:
            self.tx_fifo.append(bytes(data[:32]))
        elif command == 0xE1:
            self.tx_fifo = []
        elif command == 0xE2:
            self.rx_fifo = []

    def _write_register(self, reg, data):
        if reg in ADDRESS_REGS:
            for i in range(min(5, len(data))):
                self.addr[reg][i] = data[i]
        elif reg == STATUS:
            self.regs[STATUS] &= ~(data[0] & (RX_DR | TX_DS | MAX_RT))
        elif reg not in (OBSERVE_TX, FIFO_STATUS):
            self.regs[reg] = data[0]

    def _ce_changed(self, value):
        self._after_change()

    # --- radio behaviour

    def _after_change(self):
        """After every transaction or CE edge: close the listening interval, transmit if due."""
        self._sync()
        self._listen_since = self.air.clock.now_ms if self.listening() else None
        self._listen_channel = self.regs[RF_CH]
        if self.ce() and self.regs[CONFIG] & (PWR_UP | PRIM_RX) == PWR_UP:
            self._transmit()

    def _sync(self):
        """Take what was on the air on our channel since we started listening."""
        if self._listen_since is None:
            return
        now = self.air.clock.now_ms
        for payload in self.air.heard(self._listen_channel, self._listen_since, now, self):
            if len(self.rx_fifo) >= 3:
                self.lost_rx_fifo_full += 1
                continue
            self.rx_fifo.append((1, payload))
            self.regs[STATUS] |= RX_DR
        self._listen_since = now

    def _transmit(self):
        while self.tx_fifo and not self.regs[STATUS] & MAX_RT:
            payload = self.tx_fifo[0]
            retries = self.regs[SETUP_RETR] & 0x0F
            wants_ack = self.regs[EN_AA] & 1 and self.addr[RX_ADDR_P0] == self.addr[TX_ADDR]
            for attempt in range(retries + 1):
                acked = self.air.transmit(self, self.regs[RF_CH], bytes(self.addr[TX_ADDR]), payload)
                if acked and wants_ack:
                    self.tx_fifo.pop(0)
                    self.regs[OBSERVE_TX] = (self.regs[OBSERVE_TX] & 0xF0) | attempt
                    self.regs[STATUS] |= TX_DS
                    break
            else:
                plos = min(15, (self.regs[OBSERVE_TX] >> 4) + 1)
                self.regs[OBSERVE_TX] = (plos << 4) | retries
                self.regs[STATUS] |= MAX_RT  # the payload stays in the TX FIFO until flushed


# ---------------------------------------------------------------- the air


class Air:
    CHANNELS = (3, 23, 40, 61, 75)

    def __init__(self, clock, seed=1, loss=0, ack_loss=0, window_ms=25):
        self.clock = clock
        self.rng = Rng(seed)
        self.loss = loss  # % of tries that never reach the inverter
        self.ack_loss = ack_loss  # % of heard tries whose acknowledgement is lost
        self.window_ms = window_ms
        self.chips = []
        self.devices = {}  # register-order address -> inverter
        self.pending = []  # [start_ms, end_ms, channel, address, payload]
        self.tries = 0

    def add(self, inverter):
        self.devices[bytes(inverter.address)] = inverter
        inverter.air = self

    def transmit(self, chip, channel, address, payload):
        self.tries += 1
        device = self.devices.get(address)
        if device is None or not chip.compatible() or channel not in self.CHANNELS:
            return False
        if self.rng.chance(self.loss):
            return False
        device.hear(payload, channel)
        return not self.rng.chance(self.ack_loss)

    def send_later(self, delay_ms, address, payload):
        """An answer frame: on the air from now + delay for window_ms on one channel."""
        start = self.clock.now_ms + delay_ms
        channel = self.CHANNELS[self.rng.next() % len(self.CHANNELS)]
        self.pending.append([start, start + self.window_ms, channel, bytes(address), bytes(payload)])

    def heard(self, channel, since_ms, now_ms, chip):
        """Frames for `chip` on `channel` whose window overlaps [since_ms, now_ms]; each is taken once."""
        taken = []
        keep = []
        for frame in self.pending:
            start, end, frame_channel, address, payload = frame
            if end < now_ms - 1000:
                continue  # long gone
            if (
                frame_channel == channel
                and start <= now_ms
                and end >= since_ms
                and chip.compatible()
                and chip.regs[EN_RXADDR] & 2
                and bytes(chip.addr[RX_ADDR_P1]) == address
            ):
                taken.append(payload)
            else:
                keep.append(frame)
        self.pending = keep
        return taken


# ---------------------------------------------------------------- an HM-600/800 inverter

# RealTimeRunData of HM_2CH: (offset, field) for the values the simulation sets.
_HM2_LENGTH = 42


def put16(buf, offset, value):
    buf[offset] = (value >> 8) & 0xFF
    buf[offset + 1] = value & 0xFF


class HmInverter:
    def __init__(self, serial_text, rated_w=800, available_w=600, dead_time_ms=3000, fragment_loss=0):
        serial = int(serial_text, 16)
        self.frame_address = bytes(((serial >> 24) & 0xFF, (serial >> 16) & 0xFF, (serial >> 8) & 0xFF, serial & 0xFF))
        self.address = b"\x01" + self.frame_address
        self.rated_w = rated_w
        self.available_dw = available_w * 10
        self.dead_time_ms = dead_time_ms
        self.fragment_loss = fragment_loss
        self.air = None
        self.on = True
        self.limit_dw = rated_w * 10
        self.applied_limit_dw = self.limit_dw
        self._change_at_ms = None
        self.persistent_writes = 0
        self.limit_commands = 0
        self.power_commands = []
        self.requests = []  # (time, data type or 'limit' ...)
        self.last_time_unix = None
        self.bad_frames = 0
        self.answers_given = 0
        self._last_answer = []
        self._dtu = b"\x00\x00\x00\x00"
        self.yield_day_wh = 1234

    # --- output

    def output_dw(self):
        self._apply(self.air.clock.now_ms)
        if not self.on:
            return 0
        return min(self.available_dw, self.applied_limit_dw)

    def _apply(self, now_ms):
        if self._change_at_ms is not None and now_ms >= self._change_at_ms:
            self.applied_limit_dw = self.limit_dw
            self._change_at_ms = None

    # --- what it hears

    def hear(self, frame, channel):
        if len(frame) < 11 or crc8(frame[:-1]) != frame[-1]:
            self.bad_frames += 1
            return
        if frame[1:5] != self.frame_address:
            return
        self._dtu = bytes(frame[5:9])  # answers go to whoever asked
        mid = frame[0]
        if mid == 0x15 and len(frame) == 11 and frame[9] & 0x80:
            self._resend(frame[9] & 0x7F)
        elif mid == 0x15 and len(frame) == 27 and frame[9] == 0x80:
            if crc16(frame[10:24]) != (frame[24] << 8) | frame[25]:
                self.bad_frames += 1
                return
            self.last_time_unix = int.from_bytes(frame[12:16], "big")
            self._multi(frame[10])
        elif mid == 0x51 and frame[9] == 0x81:
            end = len(frame) - 3
            if crc16(frame[10:end]) != (frame[end] << 8) | frame[end + 1]:
                self.bad_frames += 1
                return
            self._dev_control(frame)
        else:
            self.bad_frames += 1

    def _multi(self, data_type):
        self.requests.append((self.air.clock.now_ms, data_type))
        if data_type == 0x0B:
            payload = self._real_time()
        elif data_type == 0x00:
            payload = bytearray(b"\x27\x1c\x10\x11\x30\x01\x01\x00\x0a\x00\x20\x01\x00\x00")  # HM-800 part
        elif data_type == 0x05:
            payload = bytearray(14)
            put16(payload, 0, 1)
            put16(payload, 2, self.limit_dw * 100 // self.rated_w)  # tenths of a percent
        else:
            return
        self._answer(0x95, payload)

    def _real_time(self):
        p = bytearray(_HM2_LENGTH)
        put16(p, 0, 1)
        out = self.output_dw()
        dc = out * 105 // 100  # a 95 % efficient inverter
        for base in (2, 8):
            put16(p, base, 335)  # 33.5 V
            put16(p, base + 2, dc // 2 * 10 // 335)  # cA
            put16(p, base + 4, dc // 2)  # dW
        for offset in (14, 18):
            put16(p, offset, 0x0002)
            put16(p, offset + 2, 0x3BF4)  # 146.420 kWh
        put16(p, 22, self.yield_day_wh)
        put16(p, 24, self.yield_day_wh - 5)
        put16(p, 26, 2305)
        put16(p, 28, 4998)
        put16(p, 30, out)
        put16(p, 34, out * 10 // 2305)
        put16(p, 36, 1000)
        put16(p, 38, 364)
        put16(p, 40, 14)
        return p

    def _answer(self, mid, payload):
        crc = crc16(payload)
        data = bytes(payload) + bytes((crc >> 8, crc & 0xFF))
        frames = []
        chunks = (len(data) + 15) // 16
        for k in range(chunks):
            index = k + 1 if k + 1 < chunks else 0x80 | (k + 1)
            frame = bytearray((mid,)) + self.frame_address + self.frame_address + bytearray((index,))
            frame += data[16 * k : 16 * (k + 1)]
            frame.append(crc8(frame))
            frames.append(bytes(frame))
        self._last_answer = frames
        self.answers_given += 1
        for k, frame in enumerate(frames):
            if not self.air.rng.chance(self.fragment_loss):
                self.air.send_later(20 + 50 * k, b"\x01" + self._dtu, frame)

    def _resend(self, index):
        self.requests.append((self.air.clock.now_ms, "fragment %d" % index))
        if 1 <= index <= len(self._last_answer):
            self.air.send_later(20, b"\x01" + self._dtu, self._last_answer[index - 1])

    def _dev_control(self, frame):
        sub = frame[10]
        now = self.air.clock.now_ms
        if sub == 0x0B:
            value = (frame[12] << 8) | frame[13]
            code = (frame[14] << 8) | frame[15]
            self.limit_commands += 1
            self.requests.append((now, "limit"))
            if code & 0x0100 or code in (0x0002, 0x0003):
                self.persistent_writes += 1
            if code & 1:
                value = self.rated_w * value // 100  # tenths of % of rated W -> dW
            self._apply(now)
            self.limit_dw = value
            self._change_at_ms = now + self.dead_time_ms
        elif sub in (0x00, 0x01, 0x02):
            self.power_commands.append(sub)
            self.requests.append((now, "power %d" % sub))
            if sub == 0x01:
                self.on = False
            elif sub == 0x00:
                self.on = True
            else:
                self.on = True
                self.limit_dw = self.applied_limit_dw = self.rated_w * 10
                self.yield_day_wh = 0
        else:
            return
        self._answer_single(0xD1, bytearray((0, 0, sub, 0)))

    def _answer_single(self, mid, payload):
        crc = crc16(payload)
        frame = bytearray((mid,)) + self.frame_address + self.frame_address + bytearray((0x81,))
        frame += payload + bytearray((crc >> 8, crc & 0xFF))
        frame.append(crc8(frame))
        self.answers_given += 1
        self.air.send_later(30, b"\x01" + self._dtu, frame)
