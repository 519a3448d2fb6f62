"""The configuration, changed at the serial REPL.

    >>> import cfg
    >>> cfg.show()                          # every key: value, unit, range, default
    >>> cfg.set("export_limit_w", 600)      # checked, then live at the next control tick
    >>> cfg.save()                          # kept across resets (JSON in /config.json)
    >>> cfg.reset()                         # back to the defaults (save() to keep that)

Every key has a type, a range (or a list of choices) and a unit in SCHEMA. A
bad value raises ValueError (or TypeError) naming the key and what it
accepts, and changes nothing. The running application subscribes with
`on_change()`, so a new export limit reaches the controller at once.
Reading from JSON never fails: a missing or corrupt file, or a saved value
the schema no longer accepts, gives the default and a warning that `load()`
returns and prints, and `show()` repeats.

Runs at boot and from the REPL, never in the control tick; it allocates freely.
"""

from cfgstore import ConfigStore

PATH = "/config.json"

INT = "int"
CHOICE = "choice"
INVERTERS = "inverters"

# (key, kind, low or choices, high, unit, default, what it is), in the order show() lists them.
# A key, a CLI flag and a telemetry field for the same thing share one name.
_SPECS = (
    ("export_limit_w", INT, 0, 1000000, "W", 0, "grid export allowed (0 = zero export)"),
    ("phase_export_limit_w", INT, -1, 1000000, "W", -1, "export allowed per phase (-1 = no per-phase limit)"),
    ("meter_type", CHOICE, ("dtsu666", "ddsu666", "sdm120", "sdm630"), None, "", "dtsu666", "grid meter model"),
    ("meter_address", INT, 1, 247, "", 1, "Modbus address of the meter"),
    ("meter_baud", CHOICE, (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200), None, "Bd", 9600, "bus speed"),
    ("meter_parity", CHOICE, ("N", "E", "O"), None, "", "N", "bus parity: none, even, odd"),
    ("meter_stop_bits", CHOICE, (1, 2), None, "", 1, "bus stop bits"),
    ("meter_period_ms", INT, 200, 10000, "ms", 1000, "how often the meter's power is read"),
    ("meter_position", CHOICE, ("grid", "load"), None, "", "grid", "where the meter measures"),
    ("control_period_ms", INT, 100, 2000, "ms", 250, "control tick period"),
    ("failsafe_ms", INT, 1000, 60000, "ms", 3000, "no meter data for this long -> fail-safe limits"),
    ("watchdog_ms", INT, 2000, 60000, "ms", 10000, "reset if the loop makes no progress for this long"),
    ("inverters", INVERTERS, 0, 16, "", [], "list of {serial, rated_w, phase 1..3, inputs 1..6}"),
)
KEYS = tuple(spec[0] for spec in _SPECS)
# key: (kind, low or choices, high, unit, default, what it is)
SCHEMA = {spec[0]: spec[1:] for spec in _SPECS}

# One inverter row of "inverters": key: (low, high).
INVERTER_FIELDS = {"rated_w": (1, 5000), "phase": (1, 3), "inputs": (1, 6)}

_values = {}
_changed = []  # keys set since the last load() or save()
_listeners = []
_warnings = []
_store = None  # set by load(); the first use without it loads PATH (REPL use while the app is not running)


def _range_text(key):
    kind, low, high, unit, _, _ = SCHEMA[key]
    if kind == CHOICE:
        return "one of " + ", ".join(repr(c) for c in low)
    if kind == INVERTERS:
        return "a list of at most %d inverters" % high
    return "%d..%d%s" % (low, high, " " + unit if unit else "")


def _checked(key, value):
    """`value` if it suits `key`, else raises an error naming the key and what it accepts."""
    if key not in SCHEMA:
        raise ValueError("unknown key %r; keys: %s" % (key, ", ".join(KEYS)))
    kind, low, high = SCHEMA[key][:3]
    if kind == INT:
        if type(value) is not int:  # bool is not a number of watts
            raise TypeError("%s must be an int (%s), not %r" % (key, _range_text(key), value))
        if not low <= value <= high:
            raise ValueError("%s = %d is out of range: %s" % (key, value, _range_text(key)))
    elif kind == CHOICE:
        if value not in low or type(value) is not type(low[0]):
            raise ValueError("%s = %r is not allowed: %s" % (key, value, _range_text(key)))
    else:
        _check_inverters(key, value, high)
    return value


def _check_inverters(key, value, most):
    if not isinstance(value, list) or len(value) > most:
        raise TypeError("%s must be %s" % (key, _range_text(key)))
    serials = []
    for number, row in enumerate(value):
        where = "%s[%d]" % (key, number)
        if not isinstance(row, dict):
            raise TypeError("%s must be a dict like {'serial': '114182000000', 'rated_w': 800}" % where)
        for name in row:
            if name != "serial" and name not in INVERTER_FIELDS:
                raise ValueError("%s: unknown field %r" % (where, name))
        serial = row.get("serial")
        if not isinstance(serial, str) or len(serial) != 12 or not serial.isdigit():
            raise ValueError("%s: serial must be the 12 digits printed on the inverter" % where)
        if serial in serials:
            raise ValueError("%s: serial %s is listed twice" % (where, serial))
        serials.append(serial)
        for name, (low, high) in INVERTER_FIELDS.items():
            field = row.get(name, 1 if name != "rated_w" else None)
            if type(field) is not int or not low <= field <= high:
                raise ValueError("%s: %s must be an int in %d..%d" % (where, name, low, high))


def defaults():
    values = {}
    for key in KEYS:
        default = SCHEMA[key][4]
        values[key] = list(default) if isinstance(default, list) else default
    return values


def _loaded():
    if _store is None:
        load()


def get(key):
    _loaded()
    if key not in SCHEMA:
        _checked(key, None)  # raises the unknown-key error
    return _values[key]


def values():
    """The live configuration (a dict the caller must not change)."""
    _loaded()
    return _values


def set(key, value):  # noqa: A001 - the REPL API is cfg.set(key, value)
    """Check `value` and make it live; nothing changes if it is refused. save() keeps it."""
    _loaded()
    value = _checked(key, value)
    if isinstance(value, list):
        value = [dict(row) for row in value]
    _values[key] = value
    if key not in _changed:
        _changed.append(key)
    for listener in _listeners:
        listener(key, value)


def reset():
    """Every key back to its default, live at once; save() makes it permanent."""
    _loaded()
    fresh = defaults()
    for key in KEYS:
        if _values[key] != fresh[key]:
            set(key, fresh[key])


def save():
    _loaded()
    _store.save(_values)
    del _changed[:]
    print("cfg: saved to", _store.path)


def load(path=None):
    """Read the saved configuration (default PATH); returns the list of warnings (also printed)."""
    global _store
    _store = ConfigStore(PATH if path is None else path)
    _values.clear()
    _values.update(defaults())
    del _changed[:]
    del _warnings[:]
    saved = _store.load()
    if saved is None:
        _warnings.append(_store.problem + "; using defaults")
        saved = {}
    for key, value in saved.items():
        try:
            _values[key] = _checked(key, value)
        except (TypeError, ValueError) as error:
            _warnings.append("ignored saved value, using default: " + str(error))
    for warning in _warnings:
        print("cfg: warning:", warning)
    return list(_warnings)


def on_change(listener):
    """Call `listener(key, value)` after every accepted set() or reset()."""
    _listeners.append(listener)


def forget_listeners():
    del _listeners[:]


def show():
    _loaded()
    for warning in _warnings:
        print("warning:", warning)
    for key in KEYS:
        spec = SCHEMA[key]
        value = _values.get(key)
        unit = spec[3]
        note = "  (not saved)" if key in _changed else ""
        print("%-22s %r%s%s    [%s, default %r]" % (key, value, " " + unit if unit else "", note, _range_text(key),
                                                  spec[4]))


