"""The fuzz targets of tools/fuzz.py: one class per parser, each building inputs and judging what came out.

Runs on the MicroPython unix port (and CPython). Every target's `one()` tries
one input on a simulated clock and counts in a `Result`. Mutations are line
faults a checksum is meant to catch for certain (at most three flipped bits
under a CRC-16; the same bit in two bytes under the Hoymiles CRC8, which is
an XOR of the bytes) and structural faults (truncation, extension, noise,
wrong address or function, exception answers, late and duplicated answers);
a mutation that rewrites a frame's data *and* its checksum is a different
message, not a fault, and is not used where the value is judged.
"""

import gc

import fleet
import hm_answers
import hm_crc
import hm_fragments
import hm_frames
import http_status
import meters
import modbus
import mqtt
import sunspec
import sunspec_link
from late_slave import LateSlave, MapDevice, RegsDevice, Rng, framed
from meter_maps import MeterMap
from reading import Reading

try:
    from time import ticks_ms as _wall_ms
except ImportError:  # CPython
    import time

    def _wall_ms():
        return int(time.monotonic() * 1000)


HANG_MS = 2000  # wall-clock time one input may take before it counts as a hang


class Result:
    def __init__(self):
        self.inputs = 0
        self.escaped = 0
        self.hangs = 0
        self.wrong = 0
        self.checked = 0  # values accepted and found right: the fuzzer got through to the parser
        self.heap_growth = 0
        self.notes = []

    def note(self, kind, text):
        if len(self.notes) < 5:
            self.notes.append("%s: %s" % (kind, text))


def _mem():
    gc.collect()
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0


def run(name, n, seed):
    result = Result()
    target = TARGETS[name](Rng(seed * 7919 + len(name)), result)
    warm = max(1, n // 10)
    base = 0
    for index in range(n):
        if index == warm:
            base = _mem()
        started = _wall_ms()
        try:
            target.one()
        except Exception as error:  # noqa: BLE001 - an escaped exception is what we count
            result.escaped += 1
            result.note("escaped", "%s %r" % (type(error).__name__, error))
            target.reset()
        if _wall_ms() - started > HANG_MS:
            result.hangs += 1
            result.note("hang", "input %d took %d ms" % (index, _wall_ms() - started))
        result.inputs += 1
    result.heap_growth = _mem() - base
    return result


# --- mutations ----------------------------------------------------------------------------------------------


def flip_bits(data, rng, start=0, end=None, count=None):
    """1 to 3 bits flipped in data[start:end] (a CRC-16 catches every such error)."""
    out = bytearray(data)
    end = len(out) if end is None else end
    if end <= start:
        return out
    flipped = []
    while len(flipped) < min(count or rng.between(1, 3), 8 * (end - start)):
        bit = rng.between(8 * start, 8 * end - 1)
        if bit not in flipped:  # distinct bits: a bit flipped twice is no fault
            flipped.append(bit)
            out[bit >> 3] ^= 1 << (bit & 7)
    return out


def noise(rng, low, high):
    return bytes(rng.below(256) for _ in range(rng.between(low, high)))


def line_fault(frame, rng):
    """A Modbus answer as a faulty line or a wrong slave may deliver it; None: lost."""
    kind = rng.below(9)
    if kind == 0:
        return bytes(flip_bits(frame, rng))
    if kind == 1:
        return frame[: rng.below(len(frame))]
    if kind == 2:
        return frame + noise(rng, 1, 20)
    if kind == 3:
        return noise(rng, 1, 12) + frame
    if kind == 4:  # another slave's answer, intact
        return framed(bytes(((frame[0] % 247) + 1,)) + frame[1:-2])
    if kind == 5:  # another function, intact
        function = frame[1] & 0x7F
        return framed(frame[:1] + bytes((function % 16 + 1 if function != 15 else 2,)) + frame[2:-2])
    if kind == 6:  # an exception answer
        return framed(bytes((frame[0], (frame[1] & 0x7F) | 0x80, rng.between(1, 11))))
    if kind == 7:
        return None
    return noise(rng, 1, 40)


# --- the Modbus master ------------------------------------------------------------------------------------


class ScriptStream:
    """A line whose bytes arrive at scheduled times; `on_write(request)` schedules the answer."""

    def __init__(self):
        self.now_ms = 0
        self.timeline = []
        self.rx = bytearray()
        self.on_write = None

    def schedule(self, due_ms, data):
        if data:
            self.timeline.append((due_ms, bytes(data)))

    def write(self, buf):
        if self.on_write is not None:
            self.on_write(bytes(buf))
        return len(buf)

    def _deliver(self):
        if self.timeline:
            self.timeline.sort(key=lambda item: item[0])
            while self.timeline and self.timeline[0][0] <= self.now_ms:
                self.rx.extend(self.timeline.pop(0)[1])

    def any(self):
        self._deliver()
        return len(self.rx)

    def readinto(self, buf):
        self._deliver()
        if not self.rx:
            return None
        count = min(len(buf), len(self.rx))
        buf[:count] = self.rx[:count]
        self.rx = self.rx[count:]
        return count


class ModbusTarget:
    TIMEOUT_MS = 200
    LATE_MS = 600

    def __init__(self, rng, result):
        self.rng = rng
        self.result = result
        self.reset()

    def reset(self):
        self.stream = ScriptStream()
        self.master = modbus.Master(self.stream, timeout_ms=self.TIMEOUT_MS, retries=1, late_ms=self.LATE_MS)
        self.now = 0
        self.last = (1, 3, 2)

    def _advance(self):
        self.now += self.rng.between(1, 40)
        self.stream.now_ms = self.now

    def one(self):
        rng, master = self.rng, self.master
        deadline = self.now + self.LATE_MS + 500
        while not master.free(self.now):
            self._advance()
            if self.now > deadline:
                self.result.hangs += 1
                self.result.note("hang", "bus never free")
                self.reset()
                return
        address = rng.between(1, 247)
        kind = rng.below(10)
        if kind < 8:
            function = 3 if kind < 4 else 4
            count = rng.between(1, 125) if rng.chance(0.2) else rng.between(1, 12)
            if rng.chance(0.3):  # the same slave, function and length as the last read: told apart by time
                address, function, count = self.last
            self.last = (address, function, count)
            register = rng.between(0, 0x10000 - count)
            truth = [rng.below(0x10000) for _ in range(count)]
            data = bytearray((address, function, 2 * count))
            for word in truth:
                data.extend(bytes((word >> 8, word & 0xFF)))
            answer = framed(data)
        else:
            function, count, register, truth = 16, rng.between(1, 4), rng.below(0xFFF0), None
            answer = None  # the echo, built from the request
        scenario = rng.below(12)
        attempts = [0]

        def on_write(request):
            attempts[0] += 1
            frame = answer if answer is not None else framed(request[:6])
            sent = self.now
            if attempts[0] > 1:
                if rng.chance(0.5):
                    self.stream.schedule(sent + rng.between(1, self.TIMEOUT_MS - 50), frame)
                return
            self._schedule(scenario, frame, sent)

        self.stream.on_write = on_write
        values = [rng.below(0x10000) for _ in range(count)]
        # A request like a recent one to another register waits until an answer to that one cannot come.
        deadline = self.now + self.LATE_MS + 100
        while not self._start(function, address, register, count, values):
            self._advance()
            if self.now > deadline:
                self.result.hangs += 1
                self.result.note("hang", "a request never started")
                self.reset()
                return
        status = self._finish()
        if status is None:
            return
        self._judge(status, scenario, truth, count)

    def _start(self, function, address, register, count, values):
        if function == 16:
            return self.master.start_write_multiple(address, register, values, self.now)
        return self.master.start_read(address, function, register, count, self.now)

    def _schedule(self, scenario, frame, sent):
        rng, stream, timeout = self.rng, self.stream, self.TIMEOUT_MS
        on_time = sent + rng.between(1, timeout - 50)
        if scenario == 0:
            stream.schedule(on_time, frame)
        elif scenario == 1:  # in pieces
            cut = rng.between(1, len(frame) - 1)
            stream.schedule(on_time, frame[:cut])
            stream.schedule(on_time + rng.between(0, 3), frame[cut:])
        elif scenario == 2:  # late: after the window, inside late_ms
            stream.schedule(sent + rng.between(timeout + 1, self.LATE_MS - 10), frame)
        elif scenario == 3:  # twice
            stream.schedule(on_time, frame)
            stream.schedule(on_time + rng.between(0, 5), frame)
        elif scenario == 4:
            self.exception_code = rng.between(1, 11)
            stream.schedule(on_time, framed(bytes((frame[0], frame[1] | 0x80, self.exception_code))))
        else:
            faulty = line_fault(frame, rng)
            if faulty is not None:
                stream.schedule(on_time, faulty)

    def _finish(self):
        deadline = self.now + 2 * (self.TIMEOUT_MS + 40) + 100
        while True:
            status = self.master.poll(self.now)
            if status != modbus.PENDING:
                return status
            self._advance()
            if self.now > deadline:
                self.result.hangs += 1
                self.result.note("hang", "transaction never ended")
                self.reset()
                return None

    def _judge(self, status, scenario, truth, count):
        master = self.master
        if status == modbus.DONE and truth is not None:
            got = [master.register(index) for index in range(count)]
            self.result.checked += 1
            if got != truth:
                self.result.wrong += 1
                self.result.note("wrong", "scenario %d: registers %r, sent %r" % (scenario, got[:4], truth[:4]))
        elif status == modbus.EXCEPTION and scenario != 4 and scenario < 5:
            self.result.wrong += 1
            self.result.note("wrong", "an exception nobody sent (scenario %d)" % scenario)


# --- the meter drivers ------------------------------------------------------------------------------------


class History:
    """The power values a device held in the last few seconds (what a fresh sample may be)."""

    def __init__(self, window_ms):
        self.window_ms = window_ms
        self.changes = []

    def held(self, t_ms, value):
        self.changes.append((t_ms, value))
        if len(self.changes) > 64:
            del self.changes[0]

    def fresh(self, now_ms, value):
        for index in range(len(self.changes) - 1, -1, -1):
            t_ms, held = self.changes[index]
            if held == value:
                return True
            if now_ms - t_ms > self.window_ms:
                return False
        return False


class MetersTarget:
    MODELS = ("ddsu666", "dtsu666", "sdm120", "sdm630")
    TIMEOUT_MS = 500

    def __init__(self, rng, result):
        self.rng = rng
        self.result = result
        self.count = 0
        self.reset()

    def reset(self):
        rng = self.rng
        self.model = self.MODELS[rng.below(4)]
        self.bus = LateSlave(rng, late_fraction=0.15, duplicate_fraction=0.05)
        self.bus.mutate = self._mutate
        self.state = MeterMap(self.model)
        self.state.set(voltage_v=[230.1] * 3, current_a=[5.0] * 3, frequency_hz=49.99)
        self.state.set(import_kwh=1234.5, export_kwh=99.0)
        self.bus.add(1, MapDevice(self.state))
        self.master = modbus.Master(self.bus, timeout_ms=self.TIMEOUT_MS, retries=1)
        self.reading = Reading()
        self.meter = meters.create(self.model, self.master, 1, self.reading, slow_every=2, late_ms=1700)
        self.history = History(2 * self.TIMEOUT_MS + 50)
        self.now = 0

    def _mutate(self, frame, rng):
        return line_fault(frame, rng) if rng.chance(0.2) else frame

    def one(self):
        self.count += 1
        if self.count % 500 == 0:
            self.reset()
        deadline = self.now + 30000
        while self.now < deadline:
            if self.now % 100 == 0:
                watts = -3 * (350 + (self.now // 100) % 1000)
                self.state.set(power_w=float(watts))
                self.history.held(self.now, watts * 10)
            self.bus.now_ms = self.now
            status = self.meter.step(self.now)
            self.now += 50
            if status in (meters.IDLE, meters.BUSY, meters.WAIT_BUS):
                continue
            self._judge(status)
            return
        self.result.hangs += 1
        self.result.note("hang", "%s: no result in 30 s" % self.model)
        self.reset()

    def _judge(self, status):
        reading = self.reading
        if status == meters.SAMPLE or status == meters.UPDATED:
            self.result.checked += 1
        if status == meters.SAMPLE and not self.history.fresh(self.now, reading.power_dw):
            self.result.wrong += 1
            self.result.note("wrong", "%s: power %d dW was not on the meter" % (self.model, reading.power_dw))
        elif status == meters.UPDATED and not (
            reading.voltage_dv[0] in (0, 2301)
            and reading.current_ma[0] in (0, 5000)
            and reading.frequency_chz == 4999
            and reading.import_wh in (0, 1234500)
            and reading.export_wh in (0, 99000)
        ):
            self.result.wrong += 1
            self.result.note("wrong", "%s: slow values %d dV %d Hz" % (self.model, reading.voltage_dv[0],
                                                                        reading.frequency_chz))


# --- Hoymiles fragments and answers -------------------------------------------------------------------------

_INVERTER = b"\x71\x60\x35\x46"
_DTU = b"\x80\x12\x23\x04"


def _radio_frame(mid, index, data):
    frame = bytearray((mid,)) + _INVERTER + _DTU + bytes((index,)) + bytes(data)
    frame.append(hm_crc.crc8(frame, 0, len(frame)))
    return frame


def _with_crc16(data):
    crc = hm_crc.crc16(data, 0, len(data))
    return bytes(data) + bytes((crc >> 8, crc & 0xFF))


class HmFragmentsTarget:
    def __init__(self, rng, result):
        self.rng = rng
        self.result = result
        self.fragments = hm_fragments.Fragments()
        self.payload = bytearray(hm_fragments.PAYLOAD_MAX)
        self.data = hm_answers.RealTime()

    def reset(self):
        self.fragments.reset()

    def one(self):
        rng = self.rng
        truth = _with_crc16(noise(rng, 0, 120))
        pieces = [truth[start : start + 16] for start in range(0, len(truth), 16)]
        frames = []
        for index, piece in enumerate(pieces):
            last = 0x80 if index == len(pieces) - 1 else 0
            frames.append(_radio_frame(0x95, (index + 1) | last, piece))
        mutated = self._mutate(frames)
        self.fragments.reset()
        for frame in mutated:
            if hm_frames.check(frame, len(frame)) == hm_frames.OK:
                self.fragments.add(frame, len(frame))
        if self.fragments.missing():
            return
        length = self.fragments.assemble(self.payload)
        if length >= 0:
            self.result.checked += 1
            if bytes(self.payload[:length]) != truth[:-2]:
                self.result.wrong += 1
                self.result.note("wrong", "a reassembled payload that was not sent (%d bytes)" % length)
            hm_answers.parse_real_time(self.payload, length, rng.between(0, 8), self.data)

    def _mutate(self, frames):
        rng = self.rng
        kind = rng.below(8)
        frames = [bytearray(frame) for frame in frames]
        if kind == 0:  # bit errors the CRC8 would not see (recomputed): the CRC16 must
            for _ in range(rng.between(1, 3)):
                frame = frames[rng.below(len(frames))]
                if len(frame) > 13:
                    frame[rng.between(10, len(frame) - 2)] ^= 1 << rng.below(8)
                    frame[-1] = hm_crc.crc8(frame, 0, len(frame) - 1)
        elif kind == 1:  # the same bit in two data bytes: the CRC8 passes
            frame = frames[rng.below(len(frames))]
            if len(frame) > 13:
                bit = 1 << rng.below(8)
                first = rng.between(10, len(frame) - 3)
                frame[first] ^= bit
                frame[rng.between(first + 1, len(frame) - 2)] ^= bit
        elif kind == 2:
            frames.append(bytearray(frames[rng.below(len(frames))]))
        elif kind == 3:
            frames.reverse()
        elif kind == 4:
            frames.pop(rng.below(len(frames)))
        elif kind == 5:
            index = rng.below(len(frames))
            frames[index] = frames[index][: rng.below(len(frames[index]))]
        elif kind == 6:
            frames.insert(rng.below(len(frames) + 1), bytearray(noise(rng, 1, 40)))
        return frames


class HmAnswersTarget:
    def __init__(self, rng, result):
        self.rng = rng
        self.result = result
        self.data = hm_answers.RealTime()

    def reset(self):
        pass

    def one(self):
        if self.rng.chance(0.5):
            self._ack()
        else:
            self._payload()

    def _ack(self):
        rng = self.rng
        status = b"\x00\x00" if rng.chance(0.5) else bytes((rng.below(256), rng.between(1, 255)))
        truth = hm_frames.OK if status == b"\x00\x00" else hm_frames.ERR_REJECTED
        frame = _radio_frame(0xD1, 0x81, _with_crc16(status + b"\x0b\x00"))
        kind = rng.below(4)
        if kind == 1:
            frame = flip_bits(frame, rng, 10, 16)
            frame[-1] = hm_crc.crc8(frame, 0, len(frame) - 1)
        elif kind == 2:
            bit = 1 << rng.below(8)
            first = rng.between(10, 14)
            frame[first] ^= bit
            frame[rng.between(first + 1, 15)] ^= bit
        elif kind == 3:
            frame = frame[: rng.below(len(frame))] if rng.chance(0.5) else frame + noise(rng, 1, 10)
        if hm_frames.check(frame, len(frame)) != hm_frames.OK:
            return
        result = hm_answers.dev_control_result(frame, len(frame))
        self.result.checked += result == hm_frames.OK
        if kind == 0 and result != truth or kind and result == hm_frames.OK and truth != hm_frames.OK:
            self.result.wrong += 1
            self.result.note("wrong", "D1 %s read as %d" % (bytes(frame[10:16]), result))

    def _payload(self):
        rng = self.rng
        truth = _with_crc16(noise(rng, 0, 80))
        buf = bytearray(truth) + bytearray(4)
        length = len(truth) - 2
        mutated = rng.chance(0.5)
        if mutated:
            buf[: len(truth)] = flip_bits(truth, rng)
        family = rng.between(0, 8)
        results = (
            hm_answers.parse_real_time(buf, length, family, self.data),
            hm_answers.rated_w_of_dev_info(buf, length),
            hm_answers.limit_pct10_of_system_config(buf, length),
        )
        hm_answers.parse_real_time(buf, rng.between(-3, len(buf) + 3), family, self.data)
        self.result.checked += results[0] == hm_frames.OK
        if mutated and (results[0] != hm_frames.ERR_CRC16 or results[1] or results[2] >= 0):
            self.result.wrong += 1
            self.result.note("wrong", "a corrupted payload parsed: %r" % (results,))


# --- MQTT: the client's reading, with the socket faked at the OS boundary ---------------------------------


class FakeSocket:
    def __init__(self, target):
        self.target = target

    def settimeout(self, value):
        pass

    def setblocking(self, flag):
        pass

    def connect(self, address):
        pass

    def close(self):
        pass

    def fileno(self):
        return -1

    def sendall(self, data):
        data = bytes(data)
        if data[:1] == b"\x10":
            self.target.incoming.append(b"\x20\x02\x00\x00")  # CONNACK, session not present
        return len(data)

    send = write = sendall

    def recv(self, size):
        incoming = self.target.incoming
        if not incoming:
            raise OSError(11)
        chunk = incoming[0]
        if len(chunk) > size:
            incoming[0] = chunk[size:]
            return chunk[:size]
        incoming.pop(0)
        return chunk

    read = recv


class FakePoller:
    def __init__(self, target):
        self.target = target

    def register(self, *args):
        pass

    modify = register

    def unregister(self, *args):
        pass

    def poll(self, timeout_ms=-1):
        return [(None, 1)] if self.target.incoming else []

    ipoll = poll


class FakeNet:
    """Stands for the `socket` and `select` modules inside lib/net/mqtt.py."""

    AF_INET = 2
    SOCK_STREAM = 1
    POLLIN = 1
    POLLOUT = 4
    POLLERR = 8
    POLLHUP = 16

    def __init__(self, target):
        self.target = target

    def getaddrinfo(self, host, port, *args):
        return [(2, 1, 0, "", ("127.0.0.1", port))]

    def socket(self, *args):
        return FakeSocket(self.target)

    def poll(self):
        return FakePoller(self.target)


def _mqtt_length(count):
    out = bytearray()
    while True:
        byte = count & 0x7F
        count >>= 7
        out.append(byte | (0x80 if count else 0))
        if not count:
            return bytes(out)


class MqttTarget:
    def __init__(self, rng, result):
        self.rng = rng
        self.result = result
        self.incoming = []
        net = FakeNet(self)
        mqtt.socket = net
        mqtt.select = net
        self.client = mqtt.MQTTClient("fuzz", "broker", timeout_ms=50)
        self.delivered = []
        self.client.set_callback(self._message)

    def _message(self, topic, msg):
        self.delivered.append((bytes(topic), bytes(msg)))
        self.result.checked += 1

    def reset(self):
        self.client.close()

    def _publish(self):
        rng = self.rng
        topic = b"t/" + bytes(rng.between(0x30, 0x7A) for _ in range(rng.between(1, 20)))
        msg = noise(rng, 0, 60)
        qos = rng.below(2)
        body = bytes((len(topic) >> 8, len(topic) & 0xFF)) + topic
        if qos:
            body += bytes((rng.below(256), rng.between(1, 255)))
        return bytes((0x30 | qos << 1 | rng.below(2),)) + _mqtt_length(len(body) + len(msg)) + body + msg, (topic, msg)

    def one(self):
        rng = self.rng
        if not self.client.connected:
            self.incoming = []
            self.client.connect()
        stream = bytearray()
        expected = []
        for _ in range(rng.between(1, 4)):
            choice = rng.below(4)
            if choice < 2:
                packet, message = self._publish()
                expected.append(message)
            elif choice == 2:
                packet = b"\xd0\x00"
            else:
                packet = b"\x40\x02" + bytes((rng.below(256), rng.below(256)))
            stream.extend(packet)
        mutated = rng.chance(0.4)
        if mutated:
            stream = self._mutate(stream)
        self.delivered = []
        while stream:
            cut = rng.between(1, len(stream))
            self.incoming.append(bytes(stream[:cut]))
            stream = stream[cut:]
        try:
            for _ in range(40):
                self.client.check_msg()
                if not self.incoming:
                    break
        except (mqtt.MQTTException, OSError):
            self.client.close()
            if not mutated:
                self.result.wrong += 1
                self.result.note("wrong", "valid packets refused")
            return
        if mutated:
            self.client.close()  # a stream with a fault cannot be resynchronised: start over, as the app does
        elif self.delivered != expected:
            self.result.wrong += 1
            self.result.checked -= len(self.delivered)
            self.result.note("wrong", "delivered %r, sent %r" % (self.delivered[:1], expected[:1]))

    def _mutate(self, stream):
        rng = self.rng
        kind = rng.below(5)
        if kind == 0:
            return flip_bits(stream, rng)
        if kind == 1:
            return stream[: rng.below(len(stream))]
        if kind == 2:
            return stream + noise(rng, 1, 30)
        if kind == 3:
            return bytearray(b"\x30\xff\xff\xff\xff\x7f") + stream
        return bytearray(noise(rng, 1, 60))


# --- HTTP: the status server's request reader, over real sockets ------------------------------------------

TOKEN = "fuzz-token-123"


class HttpTarget:
    def __init__(self, rng, result):
        import socket

        self.socket = socket
        self.rng = rng
        self.result = result
        self.limits = []
        self.settings = {"http_writes": True, "http_token": TOKEN}
        self.now = 0
        for _ in range(20):
            self.port = 20000 + rng.below(20000)
            try:
                self.server = http_status.StatusServer(
                    lambda now_ms: {"grid_w": 1}, self.limits.append, self.settings.get, port=self.port,
                    host="127.0.0.1", timeout_ms=500,
                )
                break
            except OSError:
                continue

    def reset(self):
        pass

    def _request(self):
        rng = self.rng
        kind = rng.below(4)
        if kind == 0:
            return b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n", None
        if kind == 1:
            return b"GET / HTTP/1.0\r\n\r\n", None
        value = rng.between(-10, 2000000)
        body = '{"export_limit_w": %d}' % value
        token = TOKEN if rng.chance(0.7) else "wrong-token-456"
        head = "POST /api/limit HTTP/1.1\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (token, len(body))
        return (head + body).encode(), value if token == TOKEN and 0 <= value <= 1000000 else None

    def one(self):
        rng = self.rng
        request, value = self._request()
        mutated = rng.chance(0.5)
        if mutated:
            kind = rng.below(4)
            if kind == 0:
                request = bytes(flip_bits(request, rng))
            elif kind == 1:
                request = request[: rng.below(len(request))]
            elif kind == 2:
                request = request + noise(rng, 1, 2000)
            else:
                request = noise(rng, 1, 300)
        del self.limits[:]
        client = self.socket.socket()
        client.connect(self.socket.getaddrinfo("127.0.0.1", self.port)[0][-1])
        client.setblocking(False)
        answer = self._exchange(client, request)
        client.close()
        for _ in range(20):
            if not self.server.poll(self.now):
                break
            self.now += 100
        self._judge(answer, request, value, mutated, self.limits)

    def _exchange(self, client, request):
        sent = 0
        answer = bytearray()
        for _ in range(200):
            if sent < len(request):
                try:
                    sent += client.send(request[sent : sent + 512])
                except OSError:
                    pass
            self.server.poll(self.now)
            self.now += 20
            try:
                data = client.recv(2048)
            except OSError:
                data = None
            if data:
                answer.extend(data)
            elif data == b"":
                return answer
        self.result.hangs += 1
        self.result.note("hang", "no answer to %r" % request[:40])
        return answer

    def _judge(self, answer, request, value, mutated, limits):
        status = answer[9:12]
        self.result.checked += status == b"200"
        if status == b"500":
            self.result.escaped += 1
            self.result.note("escaped", "500 for %r" % request[:60])
        if not mutated and value is not None and limits != [value]:
            self.result.wrong += 1
            self.result.note("wrong", "limit %r set for %r" % (limits, value))
        for limit in limits:
            if str(limit).encode() not in request or TOKEN.encode() not in request:
                self.result.wrong += 1
                self.result.note("wrong", "limit %d set from %r" % (limit, request[:80]))


# --- the SunSpec map walk ---------------------------------------------------------------------------------


def reference_walk(regs, base):
    """(inverter register, control register) of a usable map, else None: the rules of docs/SUNSPEC.md."""
    if regs.get(base) != 0x5375 or regs.get(base + 1) != 0x6E53:
        return None
    cursor = base + 2
    found = {}
    for _ in range(sunspec.MAX_MODELS + 1):
        model, length = regs.get(cursor), regs.get(cursor + 1)
        if model is None or length is None:
            return None
        if model == 0xFFFF:
            break
        need = {101: 14, 102: 14, 103: 14, 111: 22, 112: 22, 113: 22, 120: 3, 121: 21, 123: 22}.get(model, 0)
        if model == 0 or cursor + 2 + length + 1 > 0xFFFF or length < need:
            return None
        if 101 <= model <= 103 or 111 <= model <= 113:
            found.setdefault("inverter", cursor)  # the first inverter model
        elif model != 704 or length in (65, 69):
            found[model] = cursor  # the last of the others
        cursor += 2 + length
    else:
        return None
    if "inverter" not in found or 123 not in found and 704 not in found:
        return None
    control = found[123] + 5 if 123 in found else found[704] + 14
    return found["inverter"], control


class SunspecTarget:
    def __init__(self, rng, result):
        self.rng = rng
        self.result = result

    def reset(self):
        pass

    def _map(self):
        rng = self.rng
        base = (40000, 50000, 0)[rng.below(3)]
        regs = {}
        cursor = [base]

        def put(values):
            for value in values:
                if cursor[0] <= 0xFFFF:
                    regs[cursor[0]] = value & 0xFFFF
                cursor[0] += 1

        put((0x5375, 0x6E53) if rng.chance(0.95) else (rng.below(0x10000), 0x6E53))
        models = [(1, 66), (rng.choice((101, 102, 103, 111, 112, 113)), 50), (120, 26), (121, 30)]
        models.append((123, 24) if rng.chance(0.7) else (704, (65, 69, 60)[rng.below(3)]))
        for _ in range(rng.below(3)):
            models.insert(rng.below(len(models) + 1), (rng.between(2, 900), rng.below(40)))
        if rng.chance(0.3):  # pushed to the end of the register space
            models.insert(1, (64000, 0xFFFF - base - rng.between(120, 260)))
        for model, length in models:
            if model == 64000:  # padding: a header, and registers nobody reads
                put((model, length))
                cursor[0] += length
                continue
            if rng.chance(0.1):
                length = rng.below(length + 2)  # a short (or one longer) model
            fields = [rng.below(3) for _ in range(length)]  # small values: sane scale factors and ratings
            if model in (120, 121) and length > 3:
                fields[1 if model == 120 else 0] = rng.between(1, 20000)
            put([model, length] + fields)
        put((0xFFFF, 0) if rng.chance(0.9) else (rng.below(0x10000), rng.below(0x10000)))
        return base, regs

    def one(self):
        rng = self.rng
        base, regs = self._map()
        bus = LateSlave(rng, late_fraction=0.05, duplicate_fraction=0.02)
        device = bus.add(3, RegsDevice(regs))
        plant = fleet.Fleet(1)
        plant.add(0, 5000)
        master = modbus.Master(bus, timeout_ms=300, retries=1)
        link = sunspec_link.SunSpecLink(master, plant, ((0, 3),), late_ms=1700, retry_ms=3000)
        now = 0
        for now in range(0, 20000, 50):
            bus.now_ms = now
            link.step(now)
            if now == 10000:
                plant.command(0, rng.between(0, 60000), now)
        expected = reference_walk(regs, base)
        info = link.maps[0]
        self.result.checked += info.ready
        if info.ready and (expected is None or info.limit_reg != expected[1]):
            self.result.wrong += 1
            self.result.note("wrong", "map taken: limit at %d, expected %r" % (info.limit_reg, expected))
        for register, values in device.writes:
            if expected is None or register != expected[1] or register + len(values) - 1 > 0xFFFF:
                self.result.wrong += 1
                self.result.note("wrong", "write to %d (expected %r)" % (register, expected))

TARGETS = {
    "modbus": ModbusTarget,
    "meters": MetersTarget,
    "hm_fragments": HmFragmentsTarget,
    "hm_answers": HmAnswersTarget,
    "mqtt": MqttTarget,
    "http": HttpTarget,
    "sunspec": SunspecTarget,
}
