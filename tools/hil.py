"""`make hil`: the firmware on the MicroPython unix port ("host" board) against a pymodbus DTSU666 and the plant.

    python tools/hil.py [--scenario scenarios/hil/three-phase-3min.json] [--seed 1] [--json] [--compare]

The same scenario format and metrics as tools/sim.py. The difference is what
runs the control: here it is the firmware itself (hostboard/hil_runner.py:
app.main() with its board file, configuration, RS485 driver, Modbus master,
meter driver, controller, control-loop timer and watchdog) in a `micropython`
process, on the fake `machine` with simulated time. Its meter is a pymodbus
server emulating a Chint DTSU666 (host_tests/meter_emulator.py) on a
pseudo-terminal, whose registers follow the plant's grid power as the
scenario's meter sees it (period, latency, noise; silent during dropouts).
Its inverters are the plant's (tools/plant.py), reached through the host
board's link.

Harness and firmware run in lockstep on the scenario's time grid: each step
the plant moves, the meter's registers are set, the simulated radio serves
the commands, and the firmware runs up to that time. A request the firmware
puts on the bus is carried to the pymodbus server at once and its answer is
delivered to the firmware's UART at the next step (after `step_s`, e.g.
100 ms, as a real meter answers within tens of ms and the firmware reads it at
its next tick). So a simulated minute takes a few seconds, and the run is
repeatable for a seed. --compare adds tools/sim.py's row for our controller.
"""

import argparse
import json
import os
import queue
import select
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "host_tests")]
import source_tree  # noqa: E402

source_tree.import_lib()

import scenario as scenario_mod  # noqa: E402
import sim  # noqa: E402
from fleet import CMD_ACKED, CMD_FAILED, CMD_SENT, Fleet  # noqa: E402
from meter_emulator import EmulatedMeter, MeterBus  # noqa: E402
from plant import TICKS_START, ticks  # noqa: E402

DEFAULT_SCENARIO = ROOT / "scenarios" / "hil" / "three-phase-3min.json"
MICROPYPATH = source_tree.search_path("hostboard", "host_tests/fakes")
ANSWER_TIMEOUT_S = 1.0  # real time allowed for pymodbus to answer one request
STEP_TIMEOUT_S = 30.0  # real time allowed for the firmware to finish one step


class HilError(RuntimeError):
    pass


class Firmware:
    """The micropython process running hostboard/hil_runner.py, one message at a time."""

    def __init__(self, board_path, config_path):
        micropython = Path(sys.executable).parent / "micropython"
        env = dict(os.environ, MICROPYPATH=MICROPYPATH)
        command = [str(micropython), str(ROOT / "hostboard" / "hil_runner.py"), str(board_path), str(config_path)]
        self.process = subprocess.Popen(command + [str(TICKS_START)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, env=env, text=True, bufsize=1)
        # A reader thread: select() on a buffered pipe misses lines already read ahead.
        self._lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, line):
        self.process.stdin.write(line + "\n")

    def reply(self):
        """Lines up to and including the closing "ok ..." line."""
        self.process.stdin.flush()
        lines = []
        while True:
            try:
                line = self._lines.get(timeout=STEP_TIMEOUT_S)
            except queue.Empty:
                raise HilError("the firmware did not answer within %d s" % STEP_TIMEOUT_S) from None
            if line is None:
                raise HilError("the firmware stopped:\n" + "".join(lines))
            if line.startswith("ok"):
                return lines, line.split()
            lines.append(line)

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write("q\n")
                self.process.stdin.flush()
                self.process.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(5)


class Bus:
    """The harness's end of the meter line: carries request bytes to pymodbus and collects the answer."""

    def __init__(self, port):
        self.fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)

    def transact(self, request):
        """The answer to `request` (bytes, possibly empty if the meter is silent)."""
        os.write(self.fd, request)
        expected = _answer_length(request)
        answer = b""
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if ready:
                answer += os.read(self.fd, 512)
                if len(answer) >= 5 and answer[1] & 0x80:
                    expected = 5
                if expected and len(answer) >= expected:
                    break
        return answer

    def close(self):
        os.close(self.fd)


def _answer_length(request):
    if len(request) == 8 and request[1] in (3, 4):
        return 5 + 2 * ((request[4] << 8) | request[5])
    return 0


def _config(scn):
    """The firmware configuration for a scenario: what an installer would set with cfg.set()."""
    phases = scn.phase_export_limit_w
    if phases is not None and len(set(phases)) != 1:
        raise HilError("the firmware configures one per-phase export limit for all phases")
    return {
        "export_limit_w": int(scn.export_limit_w),
        "phase_export_limit_w": -1 if phases is None or phases[0] is None else int(phases[0]),
        "meter_type": "dtsu666",
        "meter_position": scn.meter["position"],
        "meter_period_ms": int(round(scn.meter["period_s"] * 1000)),
        "http_enabled": False,  # nobody browses a simulation; port 80 is the host's
        "inverters": [
            {"serial": "1141%08d" % (index + 1), "rated_w": int(inv["rated_w"]), "phase": inv["phase"],
             "inputs": inv["inputs"]}
            for index, inv in enumerate(scn.inverters)
        ],
    }


class Mirror:
    """The plant's side of the Fleet: commands from the firmware in, link events back to it."""

    def __init__(self, scn):
        self.fleet = Fleet(len(scn.inverters))
        for index, spec in enumerate(scn.inverters):
            self.fleet.add(index, rated_w=int(spec["rated_w"]), phase=spec["phase"] - 1, inputs=spec["inputs"])
        self._state = bytearray(self.fleet.count)
        self._t_ms = [0] * self.fleet.count
        self._seq = [0] * self.fleet.count

    def events(self):
        """What the simulated radio did since the last call, as runner messages."""
        fleet, out = self.fleet, []
        for index in range(fleet.count):
            state, t_ms = fleet.cmd_state[index], fleet.cmd_t_ms[index]
            if (state, t_ms) != (self._state[index], self._t_ms[index]):
                self._state[index], self._t_ms[index] = state, t_ms
                kind = {CMD_SENT: "s", CMD_ACKED: "a", CMD_FAILED: "f"}.get(state)
                if kind:
                    out.append("e %s %d 0 %d" % (kind, index, t_ms))
            if fleet.output_seq[index] != self._seq[index]:
                self._seq[index] = fleet.output_seq[index]
                out.append("e o %d %d %d" % (index, fleet.output_dw[index], fleet.output_t_ms[index]))
        return out


def run(scn, seed=1, workdir=None):
    """The firmware through a scenario; returns a sim.Run with metrics, plus the firmware's status lines."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="hil-"))
    board_path = ROOT / "boards" / "host.json"
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(_config(scn)))
    steps, step_s = scn.steps, scn.step_s
    mirror = Mirror(scn)
    plant = sim.PlantRun(scn, mirror.fleet, seed)
    meter, link = plant.meter, plant.link
    dtsu = EmulatedMeter("dtsu666", address=1)
    record = sim.Run(scn, "firmware (host board)")
    modes = np.empty(steps, dtype=int)
    requests = 0
    console = []  # what the firmware printed (boot messages, warnings, tracebacks)
    with MeterBus(dtsu) as meter_bus:
        bus = Bus(meter_bus.port)
        firmware = Firmware(board_path, config_path)
        try:
            pending_rx = None
            for k in range(steps):
                t_s = k * step_s
                if plant.measure(k):
                    # A real meter's currents follow its power (unity power factor): the firmware
                    # checks power against voltage times current.
                    currents = [abs(power_w) / 230.0 for power_w in meter.phase_w]
                    dtsu.set(phase_power_w=list(meter.phase_w), voltage_v=[230.0] * 3, current_a=currents,
                             frequency_hz=50.0)
                meter_bus.silent = not meter.online(t_s)
                link.service(t_s)
                if pending_rx:
                    firmware.send("rx " + pending_rx.hex())
                    pending_rx = None
                for message in mirror.events():
                    firmware.send(message)
                firmware.send("t %d" % ticks(t_s))
                lines, ok = firmware.reply()
                modes[k] = int(ok[1])
                if ok[3] == "1":
                    raise HilError("the watchdog expired at %.1f s: the firmware loop stopped making progress" % t_s)
                for line in lines:
                    words = line.split()
                    if words[0] == "tx":
                        requests += 1
                        pending_rx = None if meter_bus.silent else bus.transact(bytes.fromhex(words[1]))
                    elif words[0] == "c":
                        mirror.fleet.command(int(words[1]), int(words[2]), int(words[3]))
                    else:
                        console.append(line.rstrip())
                plant.advance(k)
            firmware.send("status")
            status_lines, _ = firmware.reply()
        finally:
            firmware.close()
            bus.close()
    plant.record(record)
    sim.score(scn, record)
    record.modes = modes
    record.meter_requests = requests
    record.meter_reads = dtsu.reads
    record.console = console
    return record, [line.rstrip() for line in status_lines]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default=str(DEFAULT_SCENARIO))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object with the metrics")
    parser.add_argument("--compare", action="store_true", help="also run tools/sim.py's model of our controller")
    args = parser.parse_args(argv)
    scn = scenario_mod.load(args.scenario)
    started = time.monotonic()
    record, status_lines = run(scn, args.seed)
    wall_s = time.monotonic() - started
    if args.json:
        print(json.dumps(record.metrics))
        return 0
    rows = [(scn.name, record.controller, record.metrics)]
    if args.compare:
        rows.append((scn.name, "ours (sim.py)", sim.run(scn, "ours", args.seed).metrics))
    print(sim.table(rows))
    print("%.0f simulated s in %.1f s wall; %d Modbus requests, %d answered by the emulated DTSU666" % (
        scn.duration_s, wall_s, record.meter_requests, record.meter_reads))
    print("firmware console:")
    for line in record.console:
        print("  " + line)
    print("firmware status() at the end:")
    for line in status_lines:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
