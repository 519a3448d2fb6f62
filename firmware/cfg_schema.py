"""The configuration's schema: every key's kind, range, unit, default and description, and the checks.

cfg.py loads this module only while it checks or shows a value (cfg.set, cfg.load at boot, cfg.show) and
drops it again: its tables and messages are about 14 kB of bytecode, which a running gateway does not keep
in RAM. Frozen into the image it costs no RAM at all.

Every key has a kind (int, choice, text, bool, or the inverter list), a range (a list of choices, or a text
length) and a unit. `checked` raises ValueError (or TypeError) naming the key and what it accepts.
Runs at boot and from the REPL, never in the control tick; it allocates freely.
"""

from meters import MODELS

INT = "int"
CHOICE = "choice"
INVERTERS = "inverters"
TEXT = "text"
BOOL = "bool"

_METERS = tuple(sorted(MODELS))  # the one list of meter models: lib/meter/meters.py
GRID_PHASES = {"1p": 1, "split": 2, "3p": 3}  # the grid setting's choices and their phases (or legs)
GRIDS = tuple(sorted(GRID_PHASES, key=GRID_PHASES.get))  # 1p, split, 3p

# (key, kind, low or choices, high, unit, default, what it is), in the order show() lists them.
# A key, a CLI flag and a telemetry field for the same thing share one name. For TEXT, low..high
# bound the length.
_SPECS = (
    ("export_limit_w", INT, 0, 1000000, "W", 0, "grid export allowed (0 = zero export)"),
    ("phase_export_limit_w", INT, -1, 1000000, "W", -1, "export allowed per phase (-1 = no per-phase limit)"),
    ("meter_type", CHOICE, _METERS, None, "", "dtsu666", "grid meter model"),
    ("meter_address", INT, 1, 247, "", 1, "Modbus address of the meter"),
    ("meter_baud", CHOICE, (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200), None, "Bd", 9600, "bus speed"),
    ("meter_parity", CHOICE, ("N", "E", "O"), None, "", "N", "bus parity: none, even, odd"),
    ("meter_stop_bits", CHOICE, (1, 2), None, "", 1, "bus stop bits"),
    ("meter_period_ms", INT, 200, 10000, "ms", 1000, "how often the meter's power is read"),
    ("meter_late_ms", INT, 0, 10000, "ms", 1000, "meter's slowest answer: bus quiet this long after a timeout"),
    ("meter_position", CHOICE, ("grid", "load"), None, "", "grid", "where the meter measures"),
    ("invert", BOOL, None, None, "", False, "negate the meter's power (a meter or CT wired the other way)"),
    ("ct_ratio", INT, 0, 9999, "", 0, "the meter's CT ratio (0 = as the DTSU666 reports, else 1)"),
    ("vt_ratio", INT, 0, 9999, "", 0, "the meter's VT ratio, whole (0 = as the DTSU666 reports, else 1)"),
    ("grid", CHOICE, GRIDS, None, "", "3p", "1p, split (L1 and L2 legs) or 3p; inverters only on its phases"),
    ("nominal_voltage_v", INT, 100, 240, "V", 230, "phase-to-neutral voltage (120 on 120/240 V split phase)"),
    ("pv_meter_type", CHOICE, ("none",) + _METERS, None, "", "none", "meter at the PV output, same bus"),
    ("pv_meter_address", INT, 1, 247, "", 2, "Modbus address of the PV meter"),
    ("control_period_ms", INT, 100, 2000, "ms", 250, "control tick period"),
    ("failsafe_ms", INT, 1000, 60000, "ms", 3000, "no meter data for this long -> fail-safe limits"),
    ("watchdog_ms", INT, 2000, 60000, "ms", 10000, "reset if the loop makes no progress for this long"),
    ("inverters", INVERTERS, 0, 16, "", [], "list of {serial, rated_w, phase 1..3, inputs 1..6, ...}"),
    ("excursion_stage2_s", INT, 1, 600, "s", 15, "an export excursion longer than this is a stage-2 event"),
    ("excursion_trip_s", INT, 1, 3600, "s", 60, "an excursion this long trips (fail-safe lockout)"),
    ("stage2_events_max", INT, 1, 16, "", 2, "this many stage-2 events within the window trip"),
    ("stage2_window_min", INT, 1, 1440, "min", 10, "window for counting stage-2 events"),
    ("lockout_h", INT, 1, 168, "h", 4, "fail-safe hold after a trip (app.reset_supervisor() ends it)"),
    ("startup_limit_pct", INT, 0, 100, "% of rating", 0, "Hoymiles inverters' startup limit: written to their "
     "flash (wears it) once per change, at most once a day each (0 = leave as is)"),
    ("energy_persist_min", INT, 1, 1440, "min", 15, "energy counters are saved at most this often"),
    ("sunspec_bus", CHOICE, ("meter", "second"), None, "", "meter", "SunSpec inverters: meter bus or board's 2nd"),
    ("sunspec_revert_s", INT, 0, 3600, "s", 60, "SunSpec limit reverts this long after the gateway stops"),
    ("dtu_serial", TEXT, 0, 12, "", "", "12 hex digits sent on the air ('' = 1999 + chip id)"),
    ("radio_pa_level", INT, 0, 3, "", 0, "nRF24 output power: 0 -18 dBm .. 3 0 dBm"),
    ("cmt_region", CHOICE, ("eu", "us", "br"), None, "", "eu", "HMS/HMT radio rules: band, boot frequency, duty cycle"),
    ("cmt_frequency_mhz", INT, 0, 928, "MHz", 0, "HMS/HMT working frequency (0 = 865 eu, 918 us/br); legal: eu "
     "863..870, us 905..925, br 915..928"),
    ("wifi_ssid", TEXT, 0, 32, "", "", "WiFi network ('' = no WiFi)"),
    ("wifi_password", TEXT, 0, 64, "", "", "WiFi password"),
    ("ntp_server", TEXT, 0, 64, "", "pool.ntp.org", "sets the clock when WiFi is up ('' = never)"),
    ("mqtt_server", TEXT, 0, 64, "", "", "broker host or IP ('' = MQTT off)"),
    ("mqtt_port", INT, 1, 65535, "", 1883, "broker port (no TLS)"),
    ("mqtt_user", TEXT, 0, 64, "", "", "broker user ('' = anonymous)"),
    ("mqtt_password", TEXT, 0, 64, "", "", "broker password"),
    ("mqtt_prefix", TEXT, 1, 64, "", "export_manager", "first topic level of the gateway's topics"),
    ("mqtt_node_id", TEXT, 1, 32, "", "export_manager", "second topic level; Home Assistant device id"),
    ("mqtt_keepalive_s", INT, 0, 3600, "s", 60, "MQTT keepalive (0 = none)"),
    ("mqtt_retry_s", INT, 1, 3600, "s", 10, "wait between broker connection attempts"),
    ("ha_discovery_prefix", TEXT, 1, 64, "", "homeassistant", "Home Assistant discovery prefix"),
    ("telemetry_period_s", INT, 1, 3600, "s", 10, "state message period"),
    ("dtu_type", CHOICE, ("none", "opendtu", "ahoydtu"), None, "", "none", "send limits through this DTU (MQTT)"),
    ("dtu_prefix", TEXT, 0, 64, "", "", "the DTU's base topic ('' = solar / inverter)"),
    ("dtu_ack_timeout_ms", INT, 1000, 60000, "ms", 10000, "wait for the DTU's echo of a limit"),
    ("http_enabled", BOOL, None, None, "", True, "serve the status page and /api/status"),
    ("http_port", INT, 1, 65535, "", 80, "HTTP port"),
    ("http_writes", BOOL, None, None, "", False, "allow POST /api/limit (needs http_token)"),
    ("http_token", TEXT, 0, 128, "", "", "bearer token for network writes (8..128 characters)"),
)
KEYS = tuple(spec[0] for spec in _SPECS)
# key: (key, kind, low or choices, high, unit, default, what it is): the _SPECS tuples themselves (RAM)
SCHEMA = {spec[0]: spec for spec in _SPECS}
# Never printed: show() masks them.
SECRETS = ("wifi_password", "mqtt_password", "http_token")

# One inverter row of "inverters": key: (low, high); ints, except the TEXT_FIELDS (length bounds).
INVERTER_FIELDS = {"rated_w": (1, 5000), "phase": (1, 3), "inputs": (1, 6), "sunspec_address": (1, 247)}
TEXT_FIELDS = {"dtu_id": (1, 32), "dtu_name": (1, 64)}
_OPTIONAL = ("sunspec_address",)


def range_text(key):
    _, kind, low, high, unit, _, _ = SCHEMA[key]
    if kind == CHOICE:
        return "one of " + ", ".join(repr(c) for c in low)
    if kind == INVERTERS:
        return "a list of at most %d inverters" % high
    if kind == BOOL:
        return "True or False"
    if kind == TEXT:
        return "text of %d..%d characters" % (low, high)
    return "%d..%d%s" % (low, high, " " + unit if unit else "")


def checked(key, value):
    """`value` if it suits `key`, else raises an error naming the key and what it accepts."""
    if key not in SCHEMA:
        raise ValueError("unknown key %r; keys: %s" % (key, ", ".join(KEYS)))
    _, kind, low, high = SCHEMA[key][:4]
    if kind == INT:
        if type(value) is not int:  # bool is not a number of watts
            raise TypeError("%s must be an int (%s), not %r" % (key, range_text(key), value))
        if not low <= value <= high:
            raise ValueError("%s = %d is out of range: %s" % (key, value, range_text(key)))
    elif kind == CHOICE:
        if value not in low or type(value) is not type(low[0]):
            raise ValueError("%s = %r is not allowed: %s" % (key, value, range_text(key)))
    elif kind == BOOL:
        if type(value) is not bool:
            raise TypeError("%s must be True or False, not %r" % (key, value))
    elif kind == TEXT:
        if not isinstance(value, str) or not low <= len(value) <= high:
            raise ValueError("%s must be %s" % (key, range_text(key)))
        _check_text(key, value)
    else:
        _check_inverters(key, value, high)
    return value


def _check_text(key, value):
    if key == "dtu_serial" and value and (len(value) != 12 or not _is_hex(value)):
        raise ValueError("dtu_serial must be '' or 12 hex digits")
    if key == "http_token" and value:
        from http_status import valid_token

        if not valid_token(value):
            raise ValueError("http_token must be '' or 8..128 characters of A-Z a-z 0-9 - . _ ~ + / =")


def _is_hex(text):
    for char in text:
        if char not in "0123456789abcdefABCDEF":
            return False
    return True


def _check_inverters(key, value, most):
    if not isinstance(value, list) or len(value) > most:
        raise TypeError("%s must be %s" % (key, range_text(key)))
    serials = []
    for number, row in enumerate(value):
        where = "%s[%d]" % (key, number)
        if not isinstance(row, dict):
            raise TypeError("%s must be a dict like {'serial': '114182000000', 'rated_w': 800}" % where)
        for name in row:
            if name != "serial" and name not in INVERTER_FIELDS and name not in TEXT_FIELDS:
                raise ValueError("%s: unknown field %r" % (where, name))
        _check_serial(where, row, serials)
        for name, (low, high) in INVERTER_FIELDS.items():
            if name in _OPTIONAL and name not in row:
                continue
            field = row.get(name, 1 if name != "rated_w" else None)
            if type(field) is not int or not low <= field <= high:
                raise ValueError("%s: %s must be an int in %d..%d" % (where, name, low, high))
        for name, (low, high) in TEXT_FIELDS.items():
            field = row.get(name, "-")
            if not isinstance(field, str) or not low <= len(field) <= high:
                raise ValueError("%s: %s must be text of %d..%d characters" % (where, name, low, high))


def check_phases(grid, inverters):
    """Every inverter on a phase the grid has (a split-phase grid has L1 and L2 only)."""
    phases = GRID_PHASES[grid]
    for number, row in enumerate(inverters):
        if row.get("phase", 1) > phases:
            raise ValueError("inverters[%d]: phase %d, but a %s grid has %s" % (
                number, row.get("phase", 1), grid, ("only L1", "L1 and L2", "")[phases - 1]))


def _check_serial(where, row, serials):
    """Hoymiles rows carry the 12-digit serial; a SunSpec row any name (1..32 characters)."""
    serial = row.get("serial")
    if "sunspec_address" in row:
        if not isinstance(serial, str) or not 1 <= len(serial) <= 32:
            raise ValueError("%s: serial must be a name of 1..32 characters" % where)
    elif not isinstance(serial, str) or len(serial) != 12 or not _is_hex(serial):
        raise ValueError("%s: serial must be the 12 digits (0-9, A-F) printed on the inverter" % where)
    if serial in serials:
        raise ValueError("%s: serial %s is listed twice" % (where, serial))
    serials.append(serial)


def defaults():
    values = {}
    for key in KEYS:
        default = SCHEMA[key][5]
        values[key] = list(default) if isinstance(default, list) else default
    return values
