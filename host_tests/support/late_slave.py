"""Modbus-RTU devices on a simulated clock whose answers come on time, late, twice, or not at all.

Portable (CPython and the MicroPython unix port): the stream a modbus.Master
reads (`write`, `readinto`, `any`), with time set from outside (`now_ms`), so
thousands of transactions with answers 300-1,600 ms late take a second, not
an hour. It allocates per request: for functional tests and the fuzzer, not
heap_lock tests.

    bus = LateSlave(Rng(7), late_fraction=0.2, late_ms=(300, 1600))
    bus.add(1, MapDevice(MeterMap("sdm120")))    # a meter's register map (meter_maps.py)
    bus.add(3, RegsDevice({40000: 0x5375, ...}))  # or a plain {register: word} dict, writable
    master = modbus.Master(bus, ...)
    bus.now_ms = now                              # before every poll

A request is answered from the registers as they are when it arrives (what
the device measured then), `answer_ms` later, or with probability
`late_fraction` a delay drawn from `late_ms` later; with `duplicate_fraction`
the same answer comes once more, no later than `late_ms` allows; `mutate(frame, rng)`, when set,
may change or drop (None) each answer on its way (line faults, for the
fuzzer). Reads outside a device's map
get exception 02; requests to an unknown address or with a bad CRC get
nothing, as on a real bus. Counters: `requests`, `late`, `duplicates`.
"""

from crc16 import crc16_pure


class Rng:
    """xorshift32: the same sequence on every runtime for a seed (random's differs between them)."""

    def __init__(self, seed):
        self.state = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1

    def next(self):
        x = self.state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.state = x
        return x

    def below(self, n):
        """An int in 0 .. n-1."""
        return self.next() % n

    def between(self, low, high):
        """An int in low .. high."""
        return low + self.below(high - low + 1)

    def chance(self, fraction):
        return self.below(1000000) < int(fraction * 1000000)

    def choice(self, options):
        return options[self.below(len(options))]


class MapDevice:
    """A meter: registers from a meter_maps.MeterMap, exception 02 outside its ranges."""

    def __init__(self, meter_map):
        self.map = meter_map

    def read(self, register, count):
        for start, length in self.map.ranges():
            if start <= register and register + count <= start + length:
                values = self.map.registers()
                return [values.get(register + offset, 0) for offset in range(count)]
        return 2

    def write(self, register, values):
        for offset, value in enumerate(values):
            self.map.written[register + offset] = value
        return None


class RegsDevice:
    """A {register: word} dict (a SunSpec map): reads need every register, writes are logged in `writes`."""

    def __init__(self, regs):
        self.regs = regs
        self.writes = []

    def read(self, register, count):
        if any(register + offset not in self.regs for offset in range(count)):
            return 2
        return [self.regs[register + offset] for offset in range(count)]

    def write(self, register, values):
        if any(register + offset not in self.regs for offset in range(len(values))):
            return 2
        for offset, value in enumerate(values):
            self.regs[register + offset] = value
        self.writes.append((register, list(values)))
        return None


def framed(body):
    body = bytes(body)
    crc = crc16_pure(body, 0, len(body))
    return body + bytes((crc & 0xFF, crc >> 8))


def answer_to(device, request):
    """The answer a device gives to a whole request frame, or None (none is sent)."""
    address, function = request[0], request[1]
    register = (request[2] << 8) | request[3]
    word = (request[4] << 8) | request[5]
    if function in (3, 4):
        words = device.read(register, word)
        if isinstance(words, int):
            return framed(bytes((address, function | 0x80, words)))
        data = bytearray((address, function, 2 * word))
        for value in words:
            data.append(value >> 8)
            data.append(value & 0xFF)
        return framed(data)
    if function == 6 or function == 16:
        if function == 6:
            values = [word]
        else:
            values = [(request[7 + 2 * i] << 8) | request[8 + 2 * i] for i in range(word)]
        error = device.write(register, values)
        if error:
            return framed(bytes((address, function | 0x80, error)))
        return framed(request[:6])
    return framed(bytes((address, function | 0x80, 1)))


def _u16le(buf, offset):
    return buf[offset] | (buf[offset + 1] << 8)


def _request_length(buf):
    if len(buf) >= 7 and buf[1] == 16:
        return 9 + buf[6]
    return 8


class LateSlave:
    def __init__(self, rng, answer_ms=10, late_fraction=0.0, late_ms=(300, 1600), duplicate_fraction=0.0):
        self.rng = rng
        self.answer_ms = answer_ms
        self.late_fraction = late_fraction
        self.late_ms = late_ms
        self.duplicate_fraction = duplicate_fraction
        self.devices = {}
        self.mutate = None
        self.now_ms = 0
        self.requests = 0
        self.late = 0
        self.duplicates = 0
        self._pending = []  # [due_ms, frame], in the order they were scheduled
        self._rx = bytearray()

    def add(self, address, device):
        self.devices[address] = device
        return device

    def write(self, buf):
        request = bytes(buf)
        length = _request_length(request)
        if len(request) < length or crc16_pure(request, 0, length - 2) != _u16le(request, length - 2):
            return len(buf)
        device = self.devices.get(request[0])
        if device is None:
            return len(buf)
        self.requests += 1
        answer = answer_to(device, request)
        if self.mutate is not None:
            answer = self.mutate(answer, self.rng)
            if answer is None:
                return len(buf)
        delay = self.answer_ms
        if self.rng.chance(self.late_fraction):
            delay = self.rng.between(self.late_ms[0], self.late_ms[1])
            self.late += 1
        self._pending.append([self.now_ms + delay, answer])
        if self.rng.chance(self.duplicate_fraction):
            self.duplicates += 1
            self._pending.append([self.now_ms + self.rng.between(delay, max(delay, self.late_ms[1])), answer])
        return len(buf)

    def _deliver(self):
        keep = []
        for item in sorted(self._pending, key=lambda item: item[0]):
            if item[0] - self.now_ms <= 0:
                self._rx.extend(item[1])
            else:
                keep.append(item)
        self._pending = keep

    def any(self):
        self._deliver()
        return len(self._rx)

    def readinto(self, buf):
        self._deliver()
        if not self._rx:
            return None
        count = min(len(buf), len(self._rx))
        for index in range(count):
            buf[index] = self._rx[index]
        self._rx = self._rx[count:]
        return count
