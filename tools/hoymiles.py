"""Build and check Hoymiles HM, HMS and HMT radio frames by hand, with the gateway's own frame layer.

    python tools/hoymiles.py frame limit --inverter SERIAL --dtu SERIAL (--watts W | --percent P)
                                         [--persistent] [--family hm|hms|hmt]
    python tools/hoymiles.py frame realtime --inverter SERIAL --dtu SERIAL --time UNIX
    python tools/hoymiles.py frame channel-change --inverter SERIAL --dtu SERIAL --mhz F [--region eu|us|br]
    python tools/hoymiles.py parse --model HMS-800W-2T [--dtu SERIAL] FRAME [FRAME ...]

`frame` prints one frame as space-separated upper-case hex bytes; the family
(and with it the limit type codes) follows from the inverter's serial unless
`--family` says otherwise. `parse` takes the radio frames of one
RealTimeRunData answer (hex, spaces allowed, any order) and prints its values
as JSON; with `--dtu`, a frame not addressed to that DTU (bytes 5-8, as HMS
and HMT answer) is refused. A bad checksum or a missing fragment is an error
message on stderr and exit status 1.
"""

import argparse
import json
import sys

import source_tree  # noqa: E402

source_tree.import_lib()

import hm_answers  # noqa: E402
import hm_band  # noqa: E402
import hm_commands  # noqa: E402
import hm_family  # noqa: E402
import hm_fragments  # noqa: E402
import hm_frames  # noqa: E402
import hm_models  # noqa: E402

UNIX_2000 = 946684800

# What hm_frames' error codes mean (this tool's messages; the device only counts the errors).
ERROR_TEXT = {
    hm_frames.ERR_SHORT: "frame too short",
    hm_frames.ERR_CRC8: "bad CRC8",
    hm_frames.ERR_CRC16: "bad CRC16 over the reassembled payload",
    hm_frames.ERR_MISSING: "missing fragment",
    hm_frames.ERR_LENGTH: "payload shorter than the model's layout",
    hm_frames.ERR_REJECTED: "inverter rejected the command",
    hm_frames.ERR_UNKNOWN: "unknown model",
}

# Model names `parse --model` accepts, with their family (a table for this tool only: the device reads the
# family from the serial, hm_family.family_of_prefix, so it does not carry these strings in its RAM).
MODEL_FAMILIES = {
    "HM-300": hm_models.FAMILY_HM_1T,
    "HM-350": hm_models.FAMILY_HM_1T,
    "HM-400": hm_models.FAMILY_HM_1T,
    "HM-600": hm_models.FAMILY_HM_2T,
    "HM-700": hm_models.FAMILY_HM_2T,
    "HM-800": hm_models.FAMILY_HM_2T,
    "HM-1000": hm_models.FAMILY_HM_4T,
    "HM-1200": hm_models.FAMILY_HM_4T,
    "HM-1500": hm_models.FAMILY_HM_4T,
    "HMS-300-1T": hm_models.FAMILY_HMS_1T,
    "HMS-350-1T": hm_models.FAMILY_HMS_1T,
    "HMS-400-1T": hm_models.FAMILY_HMS_1T,
    "HMS-450-1T": hm_models.FAMILY_HMS_1T,
    "HMS-500-1T": hm_models.FAMILY_HMS_1T,
    "HMS-450-1T-V2": hm_models.FAMILY_HMS_1T_V2,
    "HMS-500-1T-V2": hm_models.FAMILY_HMS_1T_V2,
    "HMS-600-2T": hm_models.FAMILY_HMS_2T,
    "HMS-700-2T": hm_models.FAMILY_HMS_2T,
    "HMS-800-2T": hm_models.FAMILY_HMS_2T,
    "HMS-800W-2T": hm_models.FAMILY_HMS_2T,
    "HMS-900-2T": hm_models.FAMILY_HMS_2T,
    "HMS-1000-2T": hm_models.FAMILY_HMS_2T,
    "HMS-1000W-2T": hm_models.FAMILY_HMS_2T,
    "HMS-1600-4T": hm_models.FAMILY_HMS_4T,
    "HMS-1800-4T": hm_models.FAMILY_HMS_4T,
    "HMS-2000-4T": hm_models.FAMILY_HMS_4T,
    "HMT-1600-4T": hm_models.FAMILY_HMT_4T,
    "HMT-1800-4T": hm_models.FAMILY_HMT_4T,
    "HMT-2000-4T": hm_models.FAMILY_HMT_4T,
    "HMT-1800-6T": hm_models.FAMILY_HMT_6T,
    "HMT-2250-6T": hm_models.FAMILY_HMT_6T,
}


class ToolError(Exception):
    pass


def _hex(buf, length):
    return " ".join("%02X" % b for b in buf[:length])


def _serial(text, what):
    """The frame address of a serial: exactly 12 hex digits, the rule the gateway's settings apply too."""
    if len(text) != 12 or text.strip("0123456789abcdefABCDEF"):
        raise ToolError("--%s %s: a serial number is the 12 hexadecimal digits (0-9, A-F) printed on the device"
                        % (what, text))
    return hm_frames.frame_address(hm_frames.serial_bytes(text))


_FAMILY_FLAGS = ("hm", "hms", "hmt")


def _family_flag(args):
    """hm, hms or hmt: --family, else from the inverter's serial."""
    if args.family is not None:
        return args.family
    serial = hm_frames.serial_bytes(args.inverter)
    family = hm_family.family_of_prefix(hm_frames.prefix(serial))
    if family == hm_models.FAMILY_UNKNOWN:
        raise ToolError("--inverter %s: unknown model prefix %04X; give --family" % (args.inverter,
                                                                                 hm_frames.prefix(serial)))
    if hm_models.radio_of(family) == hm_models.RADIO_NRF24:
        return "hm"
    return "hms" if hm_models.is_hms(family) else "hmt"


def frame_limit(args):
    inverter = _serial(args.inverter, "inverter")
    dtu = _serial(args.dtu, "dtu")
    relative = args.percent is not None
    value = args.percent if relative else args.watts
    if value < 0 or (relative and value > 100) or (not relative and value > 6553.5):
        raise ToolError("limit out of range: %s" % value)
    kind = hm_commands.LIMIT_RELATIVE if relative else hm_commands.LIMIT_ABSOLUTE
    if args.persistent:
        kind += hm_commands.LIMIT_ABSOLUTE_PERSISTENT
    buf = bytearray(hm_frames.MAX_FRAME_LEN)
    code = hm_commands.limit_type_code(kind, _family_flag(args) == "hms")
    length = hm_commands.build_limit(buf, inverter, dtu, hm_commands.round_tenths(value), code)
    return _hex(buf, length)


def frame_realtime(args):
    inverter = _serial(args.inverter, "inverter")
    dtu = _serial(args.dtu, "dtu")
    if not UNIX_2000 <= args.time < UNIX_2000 + (1 << 30):
        raise ToolError("--time must be Unix seconds between 2000 and 2034: %d" % args.time)
    buf = bytearray(hm_frames.MAX_FRAME_LEN)
    length = hm_commands.build_multi(buf, inverter, dtu, hm_commands.DT_REAL_TIME, args.time - UNIX_2000)
    return _hex(buf, length)


def frame_channel_change(args):
    inverter = _serial(args.inverter, "inverter")
    dtu = _serial(args.dtu, "dtu")
    if _family_flag(args) == "hm":
        raise ToolError("ChannelChange is for HMS and HMT inverters; %s is an HM (give --family to force)"
                        % args.inverter)
    band = hm_band.Band(args.region)
    low, high = band.legal_mhz
    channels = (args.mhz - band.base_mhz) * hm_band.CHANNELS_PER_MHZ
    channel = int(round(channels))
    if abs(channels - channel) > 1e-6 or not 1 <= channel <= 254:
        raise ToolError("--mhz %s is no channel of the %d MHz band (%d + n * 0.25 MHz, n = 1..254)" % (
            args.mhz, band.base_mhz, band.base_mhz))
    if not low <= args.mhz <= high:
        raise ToolError("--mhz %s is outside the legal %d..%d MHz of region %s" % (args.mhz, low, high, args.region))
    buf = bytearray(hm_frames.MAX_FRAME_LEN)
    length = hm_commands.build_channel_change(buf, inverter, dtu, band.code, channel)
    return _hex(buf, length)


def _frame_bytes(text):
    try:
        return bytes.fromhex(text.replace(" ", ""))
    except ValueError:
        raise ToolError("not a hex frame: %r" % text) from None


def parse(args):
    family = MODEL_FAMILIES.get(args.model.upper().replace(" ", "-"))
    if family is None:
        raise ToolError("unknown model %r (known: %s)" % (args.model, ", ".join(MODEL_FAMILIES)))
    dtu = None if args.dtu is None else _serial(args.dtu, "dtu")
    fragments = hm_fragments.Fragments()
    address = None
    for number, text in enumerate(args.frames, 1):
        frame = _frame_bytes(text)
        error = hm_frames.check(frame, len(frame))
        if error:
            raise ToolError("frame %d: %s" % (number, ERROR_TEXT[error]))
        if frame[0] != hm_frames.MID_MULTI_DATA | hm_frames.MID_ANSWER:
            raise ToolError("frame %d: not a MultiData answer (0x95) but 0x%02X" % (number, frame[0]))
        if dtu is not None and not hm_frames.to_address(frame, dtu):
            raise ToolError("frame %d is addressed to %s, not to --dtu %s" % (number, frame[5:9].hex().upper(),
                                                                            args.dtu))
        if address is None:
            address = frame[1:5]
        elif frame[1:5] != address:
            raise ToolError("frame %d comes from another inverter" % number)
        if fragments.add(frame, len(frame)) != hm_fragments.ADDED:
            raise ToolError("frame %d: duplicate or invalid fragment index 0x%02X" % (number, frame[9]))
    missing = fragments.missing()
    if missing:
        raise ToolError("missing fragment %d" % missing)
    payload = bytearray(hm_fragments.PAYLOAD_MAX)
    length = fragments.assemble(payload)
    if length < 0:
        raise ToolError(ERROR_TEXT[length])
    data = hm_answers.RealTime()
    error = hm_answers.parse_real_time(payload, length, family, data)
    if error:
        raise ToolError("%s: %d bytes" % (ERROR_TEXT[error], length))
    inputs = range(data.inputs)
    values = {
        "ac_power_w": data.ac_power_dw / 10,
        "dc_power_w": [data.dc_power_dw[i] / 10 for i in inputs],
        "ac_voltage_v": data.ac_voltage_dv / 10,
        "frequency_hz": data.frequency_chz / 100,
        "temperature_c": data.temperature_ddeg / 10,
        "yield_total_kwh": [data.yield_total_wh[i] / 1000 for i in inputs],
        "yield_day_wh": [data.yield_day_wh[i] for i in inputs],
    }
    if hm_models.phase_layout(family) is not None:  # HMT: L1, L2, L3
        values["phase_voltage_v"] = [data.phase_voltage_dv[i] / 10 for i in range(3)]
        values["phase_current_a"] = [data.phase_current_ca[i] / 100 for i in range(3)]
    return json.dumps(values)


def _parser():
    parser = argparse.ArgumentParser(prog="hoymiles.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    frame = commands.add_parser("frame", help="print a request frame as hex")
    kinds = frame.add_subparsers(dest="kind", required=True)
    limit = kinds.add_parser("limit", help="ActivePowerControl (non-persistent unless --persistent)")
    realtime = kinds.add_parser("realtime", help="RealTimeRunData request")
    channel = kinds.add_parser("channel-change", help="HMS/HMT ChannelChange (send on the boot frequency)")
    for sub in (limit, realtime, channel):
        sub.add_argument("--inverter", required=True, help="inverter serial number (12 hex digits)")
        sub.add_argument("--dtu", required=True, help="DTU serial number (12 hex digits)")
    value = limit.add_mutually_exclusive_group(required=True)
    value.add_argument("--watts", type=float, help="absolute limit in W (0.1 W steps, rounded)")
    value.add_argument("--percent", type=float, help="relative limit in %% (0.1 %% steps, rounded)")
    limit.add_argument("--persistent", action="store_true", help="store in the inverter's memory (wears it)")
    for sub in (limit, channel):
        sub.add_argument("--family", choices=_FAMILY_FLAGS, help="override the family the serial gives")
    limit.set_defaults(run=frame_limit)
    channel.add_argument("--mhz", type=float, required=True, help="working frequency to move the inverter to")
    channel.add_argument("--region", choices=hm_band.REGIONS, default="eu", help="band rules (default eu)")
    channel.set_defaults(run=frame_channel_change)
    realtime.add_argument("--time", type=int, required=True, help="request time, Unix seconds (UTC)")
    realtime.set_defaults(run=frame_realtime)
    answer = commands.add_parser("parse", help="decode the frames of one RealTimeRunData answer")
    answer.add_argument("--model", required=True, help="e.g. HM-600, HMS-800W-2T, HMT-2250-6T")
    answer.add_argument("--dtu", help="refuse frames not addressed to this DTU serial (HMS/HMT answers)")
    answer.add_argument("frames", nargs="+", metavar="FRAME", help="one radio frame in hex")
    answer.set_defaults(run=parse)
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        print(args.run(args))
    except ToolError as error:
        print("hoymiles.py: error: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
