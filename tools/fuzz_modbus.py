"""Fuzz targets on the Modbus bus: the master, the meter drivers and the SunSpec map walk (see tools/fuzz.py)."""

import fleet
import meters
import modbus
import modbus_write
import sunspec
import sunspec_link
from fuzz_mutations import History, line_fault
from late_slave import LateSlave, MapDevice, RegsDevice, framed
from meter_maps import MeterMap
from reading import Reading


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
        self.master = modbus_write.WriteMaster(self.stream, timeout_ms=self.TIMEOUT_MS, retries=1, late_ms=self.LATE_MS)
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
        master = modbus_write.WriteMaster(bus, timeout_ms=300, retries=1)
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
