"""`make repl`: the firmware's REPL on this PC, with an emulated meter and simulated inverters, or a real meter.

    python tools/repl.py [--scenario scenarios/hil/three-phase-3min.json] [--hostfs build/hostfs] [--seed 1]
                         [--meter-reversed] [--meter-unset-ct RATIO] [--no-inverters]
    python tools/repl.py --port /dev/ttyUSB0 [--hostfs build/hostfs]

The firmware runs as on a board, in real time (hostboard/repl_runner.py:
app.main() on the MicroPython unix port), and its REPL is in this terminal:
type `app.status()`, `app.log()`, `cfg.show()`, `cfg.set("export_limit_w",
600)`, `cfg.save()`, `app.reset_supervisor()`, `machine.reset()` (restarts
the firmware, keeping its files, meter and plant), Ctrl-D to leave. `app`,
`cfg` and `machine` are imported.

Its file system is the folder --hostfs (build/hostfs/): board.json (the host
board), config.json (what cfg.save() writes) and what the firmware keeps
next to it (events.log, energy.json, supervisor.json). Nothing is written
outside it. A missing config.json starts from the scenario's configuration
(its export limits, meter and inverters); a saved one is kept from run to
run, as a board keeps its flash (delete the folder, or `make clean`, to
start over).

Without --port the meter is a pymodbus DTSU666 (host_tests/meter_emulator.py)
on a pseudo-terminal, and the plant is the scenario's (tools/plant.py, as
tools/hil.py runs it, but in real time): its load and PV profiles repeat,
its inverters follow the firmware's limits through the host board's link,
and the meter reads the plant's grid power. With --port the meter bus is a
USB-RS485 adapter with a real meter (the port's speed and format are the
saved meter_baud, meter_parity and meter_stop_bits); there are no inverters.

To practise commissioning, the emulated meter can be installed wrongly:
--meter-reversed turns its CTs the wrong way round (import reads as export:
fixed by the `invert` setting), --meter-unset-ct RATIO leaves its CT ratio
unset, so it reports secondary-side values, RATIO times too small (fixed by
`ct_ratio`). --no-inverters starts a new configuration without the plant's
inverters, as a fresh gateway has none: they run at their own limit until
added with the `cfg.set("inverters", [...])` line it prints (no reset
needed). With `app.commission(30)` first, a wrong sign meanwhile locks
nothing out (docs/FIRMWARE.md, commissioning).

Lines are edited here (readline: history, cursor keys); each complete
input is run by the firmware's MicroPython, which prints what the REPL
would.
"""

import argparse
import codeop
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "host_tests"), str(ROOT / "firmware")]
import source_tree  # noqa: E402

source_tree.import_lib()

import hil  # noqa: E402
import scenario as scenario_mod  # noqa: E402
import sim  # noqa: E402
from meter_emulator import EmulatedMeter, MeterBus  # noqa: E402
from plant import ticks  # noqa: E402

import hostboard  # noqa: E402

DEFAULT_SCENARIO = ROOT / "scenarios" / "hil" / "three-phase-3min.json"
DEFAULT_HOSTFS = ROOT / "build" / "hostfs"
MICROPYPATH = source_tree.search_path("hostboard", "hostboard/wifi", "host_tests/fakes")
DONE = "\x1e"
RESET_STATUS = 3


class LoopedPlant:
    """The scenario's plant in real time, its profiles repeating: the meter's values and the inverters' radio.

    The plant parts (meter, link, inverters) run on continuous time; only the load and PV profiles wrap."""

    def __init__(self, scn, seed, meter, meter_factor=1.0):
        self.scn = scn
        self.meter_factor = meter_factor  # what the meter's installation makes of the grid power (sign, CTs)
        self.mirror = hil.Mirror(scn)
        self.run = sim.PlantRun(scn, self.mirror.fleet, seed)
        self.meter = meter
        self.lock = threading.Lock()
        self.steps = 0

    def step(self, bus):
        """One scenario step: the grid power to the emulated meter, the radio, the inverters; returns events."""
        scn, run, n = self.scn, self.run, self.steps
        k = n % scn.steps
        t_s = n * scn.step_s
        out = [0.0, 0.0, 0.0]
        for inverter in run.inverters:
            out[inverter.phase] += inverter.output_w
        load = [run.load[0][k], run.load[1][k], run.load[2][k]]
        grid = [load[phase] - out[phase] for phase in range(3)]
        if run.meter.update(t_s, grid, load):
            phase_w = [power_w * self.meter_factor for power_w in run.meter.phase_w]
            self.meter.set(phase_power_w=list(phase_w), voltage_v=[230.0] * 3,
                           current_a=[abs(power_w) / 230.0 for power_w in phase_w], frequency_hz=50.0)
        bus.silent = not run.meter.online(t_s)
        with self.lock:
            run.link.service(t_s)
            events = self.mirror.events()
        nxt = (k + 1) % scn.steps
        for index, inverter in enumerate(run.inverters):
            inverter.advance(t_s + scn.step_s, scn.step_s, run.pv[index][nxt])
        self.steps += 1
        return events

    def command(self, index, target_dw):
        with self.lock:
            if index < self.mirror.fleet.count:
                self.mirror.fleet.command(index, target_dw, ticks(self.steps * self.scn.step_s))


class Firmware:
    """One run of hostboard/repl_runner.py: its output goes to the terminal, its inverter link to the plant."""

    def __init__(self, hostfs, meter_fd, plant):
        self.plant = plant
        fds = [meter_fd]
        link_in = link_out = -1
        if plant is not None:
            link_in, self.events_fd = os.pipe()  # to the firmware
            self.commands_fd, link_out = os.pipe()  # from it
            fds += [link_in, link_out]
        micropython = Path(sys.executable).parent / "micropython"
        env = dict(os.environ, MICROPYPATH=MICROPYPATH)
        command = [str(micropython), str(ROOT / "hostboard" / "repl_runner.py"), str(hostfs), str(meter_fd),
                   str(link_in), str(link_out)]
        # Its own session: Ctrl-C at the prompt is this process's; while code runs it is passed on.
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                        pass_fds=fds, start_new_session=True, text=True, bufsize=1)
        if plant is not None:
            os.close(link_in)
            os.close(link_out)
            threading.Thread(target=self._commands, daemon=True).start()
        self.done = queue.Queue()
        threading.Thread(target=self._output, daemon=True).start()

    def _output(self):
        for line in self.process.stdout:
            if line.rstrip("\n") == DONE:
                self.done.put(True)
            else:
                sys.stdout.write(line)
                sys.stdout.flush()
        self.done.put(False)

    def _commands(self):
        with os.fdopen(self.commands_fd) as commands:
            for line in commands:
                words = line.split()
                self.plant.command(int(words[1]), int(words[2]))

    def send_events(self, events):
        if events and self.process.poll() is None:
            try:
                os.write(self.events_fd, "".join(event + "\n" for event in events).encode())
            except OSError:
                pass  # the firmware is restarting

    def wait(self):
        """Until the firmware has run the last input; False when it has ended."""
        while True:
            try:
                return self.done.get()
            except KeyboardInterrupt:
                os.kill(self.process.pid, signal.SIGINT)

    def run(self, source):
        self.process.stdin.write("x " + source.encode().hex() + "\n")
        self.process.stdin.flush()
        return self.wait()

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write("q\n")
                self.process.stdin.flush()
            except OSError:
                pass
        status = self.process.wait(30)
        if self.plant is not None:
            os.close(self.events_fd)
        return status


def _read_input():
    """One complete input, as Python's REPL reads it (more lines while a block is open); None at Ctrl-D."""
    lines = []
    while True:
        try:
            line = input("... " if lines else ">>> ")
        except EOFError:
            print()
            return None
        except KeyboardInterrupt:
            print("\nKeyboardInterrupt")
            lines = []
            continue
        lines.append(line)
        source = "\n".join(lines)
        try:
            if codeop.compile_command(source, "<stdin>", "single") is None:
                continue
        except (SyntaxError, ValueError, OverflowError):
            pass  # MicroPython reports it
        if source.strip():
            return source
        lines = []


def prepare_hostfs(hostfs, scn, no_inverters=False):
    """board.json always (the host board), config.json only when none is saved yet."""
    hostfs.mkdir(parents=True, exist_ok=True)
    (hostfs / "board.json").write_text((ROOT / "boards" / "host.json").read_text())
    config = hostfs / "config.json"
    settings = hil._config(scn) if scn is not None else {"http_enabled": False}
    if no_inverters and scn is not None:
        print("repl: the plant's %d inverters are not configured; add them (no reset needed) with:\n"
              "cfg.set(\"inverters\", %s)" % (len(settings["inverters"]), json.dumps(settings["inverters"])))
        settings["inverters"] = []
    if config.exists():
        print("repl: the configuration saved in %s is kept (delete it to start afresh)" % config)
        return json.loads(config.read_text())
    config.write_text(json.dumps(settings))
    print("repl: new configuration in %s (%s)" % (config, "from " + scn.name if scn else "defaults, HTTP off"))
    return settings


class Session:
    """The firmware until Ctrl-D (or exit()); machine.reset() starts it again with the same files, meter and plant."""

    def __init__(self, hostfs, meter_fd, plant=None):
        self.hostfs, self.meter_fd, self.plant = hostfs, meter_fd, plant
        self.firmware = None

    def run(self):
        while True:
            self.firmware = Firmware(self.hostfs, self.meter_fd, self.plant)
            alive = self.firmware.wait()
            while alive:
                source = _read_input()
                if source is None:
                    break
                alive = self.firmware.run(source)
            status = self.firmware.close()
            if status != RESET_STATUS:
                return 0 if status in (0, None) else status
            print("repl: machine.reset(): the firmware starts again")

    def plant_loop(self, bus, stop):
        """The plant in real time, one scenario step per step_s; its radio events to the running firmware."""
        plant = self.plant
        start = time.monotonic()
        while not stop.is_set():
            events = plant.step(bus)
            if self.firmware is not None:
                self.firmware.send_events(events)
            delay = start + plant.steps * plant.scn.step_s - time.monotonic()
            if delay > 0:
                stop.wait(delay)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default=str(DEFAULT_SCENARIO), help="the simulated plant (without --port)")
    parser.add_argument("--port", help="a USB-RS485 adapter with a real meter, instead of the simulation")
    parser.add_argument("--hostfs", type=Path, default=DEFAULT_HOSTFS, help="the gateway's file system")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--meter-reversed", action="store_true", help="the emulated meter's CTs the wrong way round")
    parser.add_argument("--meter-unset-ct", type=int, default=1, metavar="RATIO",
                        help="the emulated meter's CT ratio not set in it: it reads RATIO times too small")
    parser.add_argument("--no-inverters", action="store_true",
                        help="a new configuration without the plant's inverters (add them at the prompt)")
    args = parser.parse_args(argv)
    hostfs = args.hostfs.resolve()
    if args.port:
        settings = prepare_hostfs(hostfs, None)
        try:
            fd = hostboard.open_port(args.port, settings.get("meter_baud", 9600), settings.get("meter_parity", "N"),
                                     settings.get("meter_stop_bits", 1))
        except OSError as error:
            print("repl: cannot open %s: %s" % (args.port, error.strerror or error), file=sys.stderr)
            return 1
        print("repl: the firmware on this PC, its meter on %s; Ctrl-D leaves" % args.port)
        try:
            return Session(hostfs, fd).run()
        finally:
            os.close(fd)
    scn = scenario_mod.load(args.scenario)
    prepare_hostfs(hostfs, scn, args.no_inverters)
    meter = EmulatedMeter("dtsu666", address=1)
    plant = LoopedPlant(scn, args.seed, meter, (-1.0 if args.meter_reversed else 1.0) / args.meter_unset_ct)
    stop = threading.Event()
    with MeterBus(meter) as bus:
        fd = hostboard.open_port(bus.port, 9600, "N", 1)
        session = Session(hostfs, fd, plant)
        thread = threading.Thread(target=session.plant_loop, args=(bus, stop), daemon=True)
        thread.start()
        print("repl: the firmware on this PC: an emulated DTSU666 and %d simulated inverters (%s, repeating every "
              "%.0f s); Ctrl-D leaves" % (len(scn.inverters), scn.name, scn.duration_s))
        try:
            return session.run()
        finally:
            stop.set()
            thread.join(5)
            os.close(fd)


if __name__ == "__main__":
    try:
        import readline  # noqa: F401 - line editing and history for input()
    except ImportError:
        pass
    sys.exit(main())
