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
  late_fraction = 0.0             this share of answers comes late, by a delay drawn from
  late_s = (0.3, 1.6)             this range (seconds; `rng`, seeded, draws), with the values
                                  of the moment the request came: a busy or sluggish meter
  late_answers                    answers sent late so far
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
import random
import select
import sys
import threading
import time
import tty
from pathlib import Path

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice

# The register maps live with the portable test peers (tools put only host_tests/ on the path).
_SUPPORT = str(Path(__file__).resolve().parent / "support")
if _SUPPORT not in sys.path:
    sys.path.append(_SUPPORT)
from meter_maps import MODELS, MeterMap  # noqa: E402, F401 - MODELS is part of this module's interface


class EmulatedMeter(MeterMap):
    def __init__(self, model, address=1, ct_ratio=1, vt_ratio=1.0, variant="native", energy_family=0x1000):
        super().__init__(model, address, ct_ratio, vt_ratio, variant, energy_family)
        self.exception_code = None
        self.latency_s = 0.0
        self.late_fraction = 0.0  # this share of the answers comes late_s later, at random
        self.late_s = (0.3, 1.6)
        self.late_answers = 0
        self.rng = random.Random(1)
        self.reads = 0
        self._lock = threading.Lock()

    def set(self, **values):
        with self._lock:
            super().set(**values)

    def registers(self):
        with self._lock:
            return super().registers()

    # --- pymodbus glue -----------------------------------------------------------

    def device(self):
        simdata = [SimData(start, count=count, values=0, datatype=DataType.REGISTERS) for start, count in self.ranges()]
        return SimDevice(self.address, simdata=simdata, action=self._action)

    async def _action(self, function_code, start_address, address, count, registers, set_values):
        values = self.registers()  # what the meter measured when it was asked
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.late_fraction and self.rng.random() < self.late_fraction:
            self.late_answers += 1
            await asyncio.sleep(self.rng.uniform(*self.late_s))
        if self.exception_code:
            return ExcCodes(self.exception_code)
        if set_values is None:
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
