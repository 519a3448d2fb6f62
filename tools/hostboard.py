"""Run the firmware on this PC (the unix port, "host" board) against a real meter on a serial port.

    python tools/hostboard.py --port /dev/ttyUSB0 [--meter-type dtsu666] [--meter-address 1] [--meter-baud 9600]
                              [--meter-parity N] [--meter-stop-bits 1] [--seconds 30] [--set KEY=VALUE ...]
                              [--at SECONDS:KEY=VALUE ...]

The meter bus is the serial device: a USB-RS485 adapter (they switch
direction by themselves) or a pseudo-terminal. The firmware runs in real time
exactly as app.main() starts it on a board, without inverters, and prints
its status() every 5 s: the quickest way to see what the firmware makes of a
meter before flashing a gateway. For the closed loop with simulated
inverters, see `make hil` (tools/hil.py).

The meter flags are the configuration keys of the same names (meter_type,
...); `--set KEY=VALUE` sets any configuration key (VALUE as JSON, else as text),
e.g. `--set mqtt_server=192.168.1.10 --set http_enabled=true --set
http_port=8080` to see the telemetry and the status page from this PC (the
HTTP server is off unless set: port 80 needs root). `--at 5:KEY=VALUE` does
`cfg.set(KEY, VALUE)` at the REPL 5 s after the start, as an installer would
(e.g. a new inverter list); at the end the meter bus's Modbus master prints its
totals (`modbus WriteMaster: ok 50, timeout 0, crc 0, exception 1, drained 0`).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import termios
import tty
from pathlib import Path

import source_tree

source_tree.import_lib()

import meters  # noqa: E402 - lib/ is on the path only now

ROOT = Path(__file__).resolve().parent.parent
MICROPYPATH = source_tree.search_path("hostboard", "host_tests/fakes")
METER_KEYS = ("meter_type", "meter_address", "meter_baud", "meter_parity", "meter_stop_bits")  # flags --meter-type ...
PARITY_FLAGS = {"N": 0, "E": termios.PARENB, "O": termios.PARENB | termios.PARODD}


def open_port(path, baud, parity, stop_bits):
    """The serial device as a raw, non-blocking file descriptor in the meter's format."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    speed = getattr(termios, "B%d" % baud)
    attrs[2] &= ~(termios.PARENB | termios.PARODD | termios.CSTOPB | termios.CRTSCTS)
    attrs[2] |= termios.CLOCAL | termios.CREAD | PARITY_FLAGS[parity] | (termios.CSTOPB if stop_bits == 2 else 0)
    attrs[4] = attrs[5] = speed
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    return fd


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", required=True, help="serial device, e.g. /dev/ttyUSB0")
    parser.add_argument("--meter-type", default="dtsu666", choices=sorted(meters.MODELS))
    parser.add_argument("--meter-address", type=int, default=1)
    parser.add_argument("--meter-baud", type=int, default=9600)
    parser.add_argument("--meter-parity", default="N", choices=sorted(PARITY_FLAGS))
    parser.add_argument("--meter-stop-bits", type=int, default=1, choices=(1, 2))
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a configuration key (VALUE as JSON, else text); repeatable")
    parser.add_argument("--at", action="append", default=[], metavar="SECONDS:KEY=VALUE",
                        help="cfg.set(KEY, VALUE) that many seconds after the start; repeatable")
    args = parser.parse_args(argv)
    config = {key: getattr(args, key) for key in METER_KEYS}
    config["http_enabled"] = False
    for item in args.set:
        key, value = _setting(item)
        config[key] = value
    changes = []
    for item in args.at:
        seconds, _, setting = item.partition(":")
        changes.append([float(seconds), *_setting(setting)])
    fd = open_port(args.port, args.meter_baud, args.meter_parity, args.meter_stop_bits)
    with tempfile.TemporaryDirectory(prefix="hostboard-") as workdir:
        config_path = Path(workdir) / "config.json"
        config_path.write_text(json.dumps(config))
        changes_path = Path(workdir) / "changes.json"
        changes_path.write_text(json.dumps(sorted(changes)))
        env = dict(os.environ, MICROPYPATH=MICROPYPATH)
        micropython = Path(sys.executable).parent / "micropython"
        command = [str(micropython), str(ROOT / "hostboard" / "realtime_runner.py"), str(ROOT / "boards" / "host.json"),
                   str(config_path), str(fd), str(args.seconds), str(changes_path)]
        try:
            done = subprocess.run(command, env=env, pass_fds=[fd], timeout=args.seconds + 30)
        finally:
            os.close(fd)
    return done.returncode


def _setting(item):
    """KEY=VALUE: the value as JSON, else as text."""
    key, _, value = item.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


if __name__ == "__main__":
    sys.exit(main())
