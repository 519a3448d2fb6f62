"""Read a grid meter over a USB-RS485 adapter: the commissioning tool.

    python tools/meter_read.py --port DEV --meter-type {ddsu666,dtsu666,sdm120,sdm630} [--meter-address 1]
        [--meter-baud 9600] [--meter-parity N|E|O] [--meter-stop-bits 1|2] [--invert] [--ct-ratio N]
        [--vt-ratio N] [--fc 3|4] [--json] [--watch]

It runs the firmware's own Modbus master and meter driver (lib/meter/modbus.py,
lib/meter/meters.py) over pyserial, so what it shows is what the gateway will see:
power with the sign convention (+ import, - export) and the CT/VT ratios
applied (primary side). The flags are named after the gateway's settings
(firmware/cfg_schema.py: meter_type, meter_address, ..., invert, ct_ratio,
vt_ratio), so what works here is what to set there: `--invert` negates
power and swaps import and export for a meter or CT wired the other way,
`--ct-ratio`/`--vt-ratio` override the ratios (0, the default: as the
DTSU666 reports them, 1 for the other meters). `--json` prints one object with the keys power_w,
phase_power_w (three-phase meters), voltage_v, current_a, frequency_hz,
import_kwh, export_kwh, and for the DTSU666 ct_ratio and vt_ratio.
`--watch` keeps reading: a live line (or, with --json, one object per line)
until Ctrl-C. A timeout, CRC error, exception response or implausible values
("wrong meter type") give one line on stderr and exit status 1.
"""

import argparse
import json
import sys
import time

import source_tree  # noqa: E402

source_tree.import_lib()

import meters  # noqa: E402
import modbus  # noqa: E402
import modbus_error  # noqa: E402
from compat import ticks_ms  # noqa: E402
from reading import Reading  # noqa: E402
from step_names import STATUS_NAMES  # noqa: E402

# USB-serial adapters deliver a frame in bursts (latency timer up to 16 ms),
# so the PC side uses a longer silence than t3.5 to call a frame finished.
PC_SILENCE_MS = 40
STARTUP_LIMIT_S = 10.0


class SerialStream:
    """pyserial as the stream the master expects: write, readinto (None when empty), any."""

    def __init__(self, port):
        self.port = port

    def write(self, buf):
        return self.port.write(bytes(buf))

    def any(self):
        return self.port.in_waiting

    def readinto(self, buf):
        waiting = self.port.in_waiting
        if not waiting:
            return None
        data = self.port.read(min(waiting, len(buf)))
        buf[: len(data)] = data
        return len(data)


def open_port(args):
    import serial

    parity = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}[args.meter_parity]
    stopbits = serial.STOPBITS_TWO if args.meter_stop_bits == 2 else serial.STOPBITS_ONE
    return serial.Serial(args.port, baudrate=args.meter_baud, parity=parity, stopbits=stopbits, bytesize=8, timeout=0)


class ReadError(Exception):
    pass


def describe(meter, status):
    if status == meters.EXCEPTION:
        code = meter.exception_code
        text = "exception response %d (%s)" % (code, modbus_error.EXCEPTION_NAMES.get(code, "unknown"))
        if code in (1, 2):
            text += ": wrong meter type, function code (--fc) or register map?"
        return text
    if status == meters.TIMEOUT:
        return "no response (timeout): check wiring (A/B), address, baud rate, parity and the meter's protocol setting"
    if status == meters.BAD_FRAME:
        return "bad response (CRC error or garbled frame): check baud rate, parity, termination and grounding"
    return STATUS_NAMES.get(status, "error %d" % status)


def step_until(meter, done, limit_s):
    """Step the driver (sleeping 1 ms between steps) until done() or an error; raise ReadError on failure."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        status = meter.step(ticks_ms())
        if status < 0:
            raise ReadError("%s at address %d: %s" % (meter.name, meter.address, describe(meter, status)))
        if done(status):
            return status
        time.sleep(0.001)
    raise ReadError("%s at address %d: no complete reading within %.0f s" % (meter.name, meter.address, limit_s))


def snapshot(meter):
    reading = meter.reading
    phases = meter.phases
    values = {
        "power_w": reading.power_dw / 10,
        "voltage_v": [reading.voltage_dv[index] / 10 for index in range(phases)],
        "current_a": [reading.current_ma[index] / 1000 for index in range(phases)],
        "frequency_hz": reading.frequency_chz / 100,
        "import_kwh": reading.import_wh / 1000,
        "export_kwh": reading.export_wh / 1000,
    }
    if phases == 3:
        values["phase_power_w"] = [reading.phase_power_dw[index] / 10 for index in range(3)]
    if meter.name == "dtsu666":
        values["ct_ratio"] = meter.ct_ratio
        values["vt_ratio"] = meter.vt_ratio10 / 10
    return values


def table(values, meter):
    lines = ["%s at address %d (FC%02d)" % (meter.name.upper(), meter.address, meter.fc)]
    lines.append("  power          %10.1f W   (+ import, - export)" % values["power_w"])
    if "phase_power_w" in values:
        lines.append(
            "  phase power    " + "  ".join("L%d %9.1f W" % (i + 1, p) for i, p in enumerate(values["phase_power_w"]))
        )
    lines.append("  voltage        " + "  ".join("%7.1f V" % v for v in values["voltage_v"]))
    lines.append("  current        " + "  ".join("%7.3f A" % a for a in values["current_a"]))
    lines.append("  frequency      %10.2f Hz" % values["frequency_hz"])
    lines.append("  import energy  %12.3f kWh" % values["import_kwh"])
    lines.append("  export energy  %12.3f kWh" % values["export_kwh"])
    if "ct_ratio" in values:
        variant = getattr(meter, "variant", "native")
        lines.append(
            "  CT ratio %d, VT ratio %.1f, %s register map, energy at 0x%04X"
            % (values["ct_ratio"], values["vt_ratio"], variant, meter.energy_register)
        )
    return "\n".join(lines)


def live_line(values):
    text = "P %9.1f W" % values["power_w"]
    if "phase_power_w" in values:
        text += " (" + " / ".join("%.1f" % p for p in values["phase_power_w"]) + ")"
    text += "  U " + "/".join("%.1f" % v for v in values["voltage_v"]) + " V"
    text += "  f %.2f Hz" % values["frequency_hz"]
    return text


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", required=True, help="serial device, e.g. /dev/ttyUSB0 or COM3")
    parser.add_argument("--meter-type", required=True, choices=sorted(meters.MODELS))
    parser.add_argument("--meter-address", type=int, default=1)
    parser.add_argument("--meter-baud", type=int, default=9600)
    parser.add_argument("--meter-parity", choices=("N", "E", "O"), default="N")
    parser.add_argument("--meter-stop-bits", type=int, choices=(1, 2), default=1)
    parser.add_argument("--invert", action="store_true", help="negate power: a meter or CT wired the other way")
    parser.add_argument("--ct-ratio", type=int, default=0, metavar="N",
                        help="CT ratio 1..9999 (default 0: as the DTSU666 reports, else 1)")
    parser.add_argument("--vt-ratio", type=int, default=0, metavar="N",
                        help="VT ratio 1..9999, whole (default 0: as the DTSU666 reports, else 1)")
    parser.add_argument("--fc", type=int, choices=(3, 4), default=None, help="read function code (default: per model)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--watch", action="store_true", help="keep reading: a live line until Ctrl-C")
    return parser.parse_args(argv)


def run(args, out=sys.stdout):
    try:
        port = open_port(args)
    except Exception as error:  # noqa: BLE001 - pyserial raises several kinds
        raise ReadError("cannot open %s: %s" % (args.port, error)) from None
    try:
        char_bits = 10 + (args.meter_parity != "N") + (args.meter_stop_bits - 1)
        master = modbus.Master(
            SerialStream(port), baud=args.meter_baud, char_bits=char_bits, timeout_ms=500, retries=1,
            silence_ms=PC_SILENCE_MS,
        )
        try:
            meter = meters.create(
                args.meter_type, master, args.meter_address, Reading(), fc=args.fc, period_ms=0, slow_every=1,
                retry_ms=0, invert=args.invert, ct_ratio=args.ct_ratio or None, vt_ratio=args.vt_ratio or None,
            )
        except ValueError as error:
            raise ReadError(str(error)) from None
        step_until(meter, lambda status: status == meters.STARTED, STARTUP_LIMIT_S)
        step_until(meter, lambda status: meter.slow_reads >= meter.slow_blocks, STARTUP_LIMIT_S)
        values = snapshot(meter)
        if not args.watch:
            out.write((json.dumps(values) if args.json else table(values, meter)) + "\n")
            return
        meter.slow_every = 5
        meter.period_ms = 500
        while True:
            step_until(meter, lambda status: status == meters.SAMPLE, STARTUP_LIMIT_S)
            values = snapshot(meter)
            if args.json:
                out.write(json.dumps(values) + "\n")
            else:
                out.write("\r" + live_line(values) + "   ")
            out.flush()
    finally:
        port.close()


def main(argv=None):
    args = parse_args(argv)
    try:
        run(args)
    except ReadError as error:
        sys.stderr.write("meter_read: %s\n" % error)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()
