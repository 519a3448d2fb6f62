"""Grid meters emulated by a real pymodbus RTU server behind a pseudo-terminal (CPython, tests and tools).

    from meter_emulator import EmulatedMeter, MeterBus

    grid = EmulatedMeter("dtsu666", address=1, ct_ratio=20)
    with MeterBus(grid) as bus:          # starts the server; bus.port is the device path
        grid.set(power_w=-1500.0)        # readings follow what the test sets, at any time
        ...open bus.port with pyserial, or run tools/meter_read.py --port bus.port...

`EmulatedMeter(model, address=1, ct_ratio=1, vt_ratio=1.0, variant="native", energy_family=0x1000)`
    model: ddsu666, dtsu666, sdm120, sdm630 (the names of meters.create and the
    tool's --meter). The meter stores what the real one would: float32 ABCD in
    its documented registers (the DTSU666 native map in Chint raw units on the
    secondary side, i.e. divided by the CT/VT ratios it reports in IrAt/UrAt;
    variant="H": engineering units, primary side). Registers outside the map
    answer exception 02, like the real meters.
  set(power_w=, phase_power_w=[..3], voltage_v=[..], current_a=[..], frequency_hz=,
      import_kwh=, export_kwh=)   primary-side values; power + import / - export.
      Without phase_power_w a three-phase meter splits power_w evenly.
  exception_code = None | int     every read answers with this exception code
  latency_s = 0.0                 the meter answers this late (a slow meter)
  reads                           requests answered so far
  written                         {register: value} written by FC06/FC16 (they read back)

`MeterBus(*meters, silent=False)` is the RS485 line: one pymodbus server (in a
thread with its own event loop) answering for all the meters, joined to the
client's pseudo-terminal by a forwarding thread (a virtual null-modem, so the
client side has a path any serial program can open). Requests to an address no
meter has get no answer, as on a real bus. `bus.silent = True` drops every
answer (a dead line); `bus.corrupt_next = n` flips a bit in the
next n answers (CRC errors). `stop()` (or leaving the `with`) ends both threads
and closes every descriptor.
"""

import asyncio
import os
import select
import struct
import threading
import time
import tty

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

MODELS = ("ddsu666", "dtsu666", "sdm120", "sdm630")


def _float_words(value):
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return high, low


class EmulatedMeter:
    def __init__(self, model, address=1, ct_ratio=1, vt_ratio=1.0, variant="native", energy_family=0x1000):
        if model not in MODELS:
            raise ValueError("unknown model %r" % model)
        self.model = model
        self.address = address
        self.ct_ratio = ct_ratio
        self.vt_ratio = vt_ratio
        self.variant = variant
        self.energy_family = energy_family
        self.phases = 1 if model in ("ddsu666", "sdm120") else 3
        self.exception_code = None
        self.latency_s = 0.0
        self.reads = 0
        self.written = {}  # registers written by FC06/FC16, kept like the meter's settings
        self._lock = threading.Lock()
        self.power_w = 0.0
        self.phase_power_w = [0.0] * 3
        self.voltage_v = [230.0] * 3
        self.current_a = [0.0] * 3
        self.frequency_hz = 50.0
        self.import_kwh = 0.0
        self.export_kwh = 0.0

    def set(
        self,
        power_w=None,
        phase_power_w=None,
        voltage_v=None,
        current_a=None,
        frequency_hz=None,
        import_kwh=None,
        export_kwh=None,
    ):
        with self._lock:
            if phase_power_w is not None:
                self.phase_power_w = list(phase_power_w) + [0.0] * (3 - len(phase_power_w))
                self.power_w = sum(self.phase_power_w) if power_w is None else power_w
            elif power_w is not None:
                self.power_w = power_w
                share = power_w / self.phases
                self.phase_power_w = [share if index < self.phases else 0.0 for index in range(3)]
            if voltage_v is not None:
                self.voltage_v = list(voltage_v) + [0.0] * (3 - len(voltage_v))
            if current_a is not None:
                self.current_a = list(current_a) + [0.0] * (3 - len(current_a))
            if frequency_hz is not None:
                self.frequency_hz = frequency_hz
            if import_kwh is not None:
                self.import_kwh = import_kwh
            if export_kwh is not None:
                self.export_kwh = export_kwh

    # --- what the meter stores ---------------------------------------------------

    def ranges(self):
        """The valid register ranges (start, count) of this model's map."""
        if self.model == "ddsu666":
            return ((0x0000, 0x0010), (0x2000, 0x0012), (0x4000, 0x000C))
        if self.model == "dtsu666":
            family = self.energy_family
            return ((0x0000, 0x0030), (0x2000, 0x0052), (family + 0x1E, 0x0014))
        return ((0x0000, 0x0050), (0x0156, 0x0016))

    def registers(self):
        """{address: 16-bit value} for every register this meter fills from its state."""
        with self._lock:
            floats, words = self._values()
        out = dict(words)
        for address, value in floats.items():
            out[address], out[address + 1] = _float_words(value)
        out.update(self.written)
        return out

    def _values(self):
        p, ph, u, i = self.power_w, self.phase_power_w, self.voltage_v, self.current_a
        f, imp, exp = self.frequency_hz, self.import_kwh, self.export_kwh
        if self.model == "ddsu666":
            floats = {
                0x2000: u[0] / self.vt_ratio,
                0x2002: i[0] / self.ct_ratio,
                0x2004: p / 1000 / self.ct_ratio / self.vt_ratio,
                0x200A: 1.0,
                0x200E: f,
                0x4000: imp,
                0x400A: exp,
            }
            return floats, {0x0006: 1, 0x000C: 3}
        if self.model == "dtsu666":
            energy = self.energy_family + 0x1E
            if self.variant == "H":
                floats = {0x2012: p, 0x2044: f, energy: imp, energy + 10: exp}
                scale_u = scale_i = scale_p = 1.0
                words = {0x0006: 1, 0x0007: 10}
            else:
                ratio = self.ct_ratio * self.vt_ratio
                scale_u, scale_i, scale_p = 10 / self.vt_ratio, 1000 / self.ct_ratio, 10 / ratio
                floats = {0x2012: p * scale_p, 0x2044: f * 100, energy: imp / ratio, energy + 10: exp / ratio}
                words = {0x0006: self.ct_ratio, 0x0007: round(self.vt_ratio * 10)}
            for phase in range(3):
                floats[0x2006 + 2 * phase] = u[phase] * scale_u
                floats[0x200C + 2 * phase] = i[phase] * scale_i
                floats[0x2014 + 2 * phase] = ph[phase] * scale_p
            words[0x0000] = 204
            words[0x002E] = self.address
            return floats, words
        floats = {0x0046: f, 0x0048: imp, 0x004A: exp}
        if self.model == "sdm120":
            floats.update({0x0000: u[0], 0x0006: i[0], 0x000C: p})
        else:
            floats[0x0034] = p
            for phase in range(3):
                floats[0x0000 + 2 * phase] = u[phase]
                floats[0x0006 + 2 * phase] = i[phase]
                floats[0x000C + 2 * phase] = ph[phase]
        return floats, {}

    # --- pymodbus glue -----------------------------------------------------------

    def device(self):
        simdata = [SimData(start, count=count, values=0, datatype=DataType.REGISTERS) for start, count in self.ranges()]
        return SimDevice(self.address, simdata=simdata, action=self._action)

    async def _action(self, function_code, start_address, address, count, registers, set_values):
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.exception_code:
            return ExcCodes(self.exception_code)
        if set_values is None:
            values = self.registers()
            for offset in range(count):
                registers[address - start_address + offset] = values.get(address + offset, 0)
            self.reads += 1
        else:
            with self._lock:
                for offset, value in enumerate(set_values):
                    self.written[address + offset] = value
        return None


class MeterBus:
    def __init__(self, *meters, baud=9600):
        self.meters = meters
        self._addresses = {meter.address for meter in meters}
        self.baud = baud
        self.silent = False
        self.corrupt_next = 0
        self._server_master, self._server_slave = os.openpty()
        self._client_master, self._client_slave = os.openpty()
        for fd in (self._server_slave, self._client_slave):
            tty.setraw(fd)
        self.port = os.ttyname(self._client_slave)
        self._server_port = os.ttyname(self._server_slave)
        self._stop = threading.Event()
        self._loop = None
        self._server = None
        self._threads = []

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        ready = threading.Event()
        self._threads = [
            threading.Thread(target=self._serve, args=(ready,), daemon=True),
            threading.Thread(target=self._forward, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        if not ready.wait(10):
            raise RuntimeError("pymodbus server did not start")
        time.sleep(0.1)  # the server opens its port after serve_forever starts

    def _serve(self, ready):
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)

        async def main():
            self._server = ModbusSerialServer(
                [meter.device() for meter in self.meters],
                framer=FramerType.RTU,
                port=self._server_port,
                baudrate=self.baud,
            )
            ready.set()
            await self._server.serve_forever()

        try:
            self._loop.run_until_complete(main())
        finally:
            self._loop.close()

    def _forward(self):
        client, server = self._client_master, self._server_master
        while not self._stop.is_set():
            readable, _, _ = select.select([client, server], [], [], 0.05)
            for fd in readable:
                try:
                    data = os.read(fd, 512)
                except OSError:
                    continue
                if fd == client:
                    # pymodbus answers an unknown address with exception 04; on a real
                    # bus nobody answers, so such requests never reach the server.
                    if data and data[0] in self._addresses:
                        os.write(server, data)
                elif not self.silent:
                    if self.corrupt_next and len(data) > 4:
                        self.corrupt_next -= 1
                        data = data[:3] + bytes([data[3] ^ 0x40]) + data[4:]
                    os.write(client, data)

    def stop(self):
        if self._loop is not None and self._server is not None and not self._loop.is_closed():
            future = asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop)
            try:
                future.result(5)
            except Exception:  # noqa: BLE001 - the server is going away anyway
                pass
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        for fd in (self._server_master, self._server_slave, self._client_master, self._client_slave):
            try:
                os.close(fd)
            except OSError:
                pass
