"""The configuration, changed at the serial REPL.

    >>> import cfg
    >>> cfg.show()                          # every key: value, unit, range, default
    >>> cfg.set("export_limit_w", 600)      # checked, then live at the next control tick; says what it did
    >>> cfg.save()                          # kept across resets (JSON in /config.json)
    >>> cfg.reset()                         # back to the defaults (save() to keep that)

Every key has a type, a range and a unit in the schema (cfg_schema.py). A bad
value raises ValueError (or TypeError) naming the key and what it accepts,
and changes nothing. Secrets (the WiFi and MQTT passwords, the HTTP token)
are set here and never printed: show() masks them. The running application
subscribes with `on_change()`; it posts each change to its control tick and
says when it takes effect, which set() prints with what changed
("cfg: export_limit_w 0 -> 600 W; live at the next control tick"). Setting
the value a key has already changes nothing (and is not logged).
Reading from JSON never fails: a missing or corrupt file, or a saved value
the schema no longer accepts, gives the default and a warning that `load()`
returns and prints, and `show()` repeats.

RAM: the running app keeps the live values, and app.main() drops this
module after boot; imported again (at the REPL, by a change from the
network) it takes the app's values, and stays. The schema (about 14 kB of bytecode
in RAM when imported from a .mpy) is imported only while a value is checked
or shown and dropped again, so a running gateway does not carry it.

Runs at boot and from the REPL, never in the control tick; it allocates freely.
"""

import sys

from cfgstore import ConfigStore

PATH = "/config.json"

_values = {}
_changed = []  # keys set since the last load() or save()
_listeners = []
_warnings = []
_store = None  # set by load(); the first use without it loads PATH (REPL use while the app is not running)


def _schema():
    """The schema module; the caller drops it with _drop() when done."""
    import cfg_schema

    return cfg_schema


def _drop():
    sys.modules.pop("cfg_schema", None)


def defaults():
    try:
        return _schema().defaults()
    finally:
        _drop()


def index(key):
    """The key's position in the schema (what a CONFIG_CHANGED event carries)."""
    try:
        return _schema().KEYS.index(key)
    finally:
        _drop()


def grid_phases(grid):
    """How many phases (or legs) the `grid` setting's value has: 1, 2 (split phase) or 3."""
    try:
        return _schema().GRID_PHASES[grid]
    finally:
        _drop()


def phase_limits(value):
    """The controller's and supervisor's per-phase limits for a phase_export_limit_w value (-1: none)."""
    return None if value < 0 else (value, value, value)


def _loaded():
    if _store is None:
        app = sys.modules.get("app")
        if app is not None and app._app is not None:
            _adopt(app._app)
        else:
            load()


def _adopt(app):
    """Imported again while the app runs (app.main() drops this module after boot): its live values."""
    global _store, _values
    _store = ConfigStore(app.config_path)
    _values = app.settings
    _warnings.extend(app.warnings)
    _listeners.append(app.apply)


def get(key):
    _loaded()
    if key not in _values:
        try:
            _schema().checked(key, None)  # raises the unknown-key error
        finally:
            _drop()
    return _values[key]


def values():
    """The live configuration (a dict the caller must not change)."""
    _loaded()
    return _values


def set(key, value):  # noqa: A001 - the REPL API is cfg.set(key, value)
    """Check `value` and make it live; nothing changes if it is refused. save() keeps it. Prints what it did
    and returns that line (the settings page shows it); None when the key had that value already."""
    _loaded()
    old = _values.get(key)
    try:
        schema = _schema()
        value = schema.checked(key, value)
        schema.check_phases(value if key == "grid" else _values["grid"],
                            value if key == "inverters" else _values["inverters"])
    finally:
        _drop()
    import cfg_words  # what the change does, in words; REPL-only, dropped again

    try:
        text = cfg_words.text(key, old, value)  # None (and it says so) when the key has that value already
    finally:
        sys.modules.pop("cfg_words", None)
    if text is None:
        return None
    if isinstance(value, list):
        value = [dict(row) for row in value]
    _values[key] = value
    if key not in _changed:
        _changed.append(key)
    when = None
    for listener in _listeners:
        when = listener(key, value, text) or when
    line = "%s; %s" % (text, when or "in force when the gateway starts (cfg.save() keeps it)")
    print("cfg: " + line)
    return line


def reset():
    """Every key back to its default, live at once; save() makes it permanent."""
    _loaded()
    fresh = defaults()
    for key in fresh:
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
    del _changed[:]
    del _warnings[:]
    try:
        _read(_schema())
    finally:
        _drop()
    for warning in _warnings:
        print("cfg: warning:", warning)
    return list(_warnings)


def _read(schema):
    _values.clear()
    _values.update(schema.defaults())
    saved = _store.load()
    if saved is None:
        _warnings.append(_store.problem + "; using defaults")
        saved = {}
    for key, value in saved.items():
        try:
            _values[key] = schema.checked(key, value)
        except (TypeError, ValueError) as error:
            _warnings.append("ignored saved value, using default: " + str(error))
    try:
        schema.check_phases(_values["grid"], _values["inverters"])
    except ValueError as error:  # a hand-edited file: 3p accepts every row, and the empty phase fails safe
        _warnings.append("%s; grid 3p used instead" % error)
        _values["grid"] = "3p"


def on_change(listener):
    """Call `listener(key, value, text)` after every accepted change by set() or reset(); text says what
    changed (old -> new). It may return when the change takes effect, which set() prints."""
    _listeners.append(listener)


def forget_listeners():
    del _listeners[:]


def show():
    """Every key: value, unit, range, default; secrets (passwords, the HTTP token) masked."""
    _loaded()
    for warning in _warnings:
        print("warning:", warning)
    try:
        schema = _schema()
        for key in schema.KEYS:
            spec = schema.SCHEMA[key]
            unit = spec[4]
            note = "  (not saved)" if key in _changed else ""
            value = _masked(schema, key, _values.get(key))
            print("%-22s %r%s%s    [%s, default %r]" % (key, value, " " + unit if unit else "", note,
                                                      schema.range_text(key), spec[5]))
    finally:
        _drop()


def masked(key, value):
    """What may be shown of `value`: a secret reads '***' when set, '' when not."""
    try:
        return _masked(_schema(), key, value)
    finally:
        _drop()


def _masked(schema, key, value):
    return "***" if value and key in schema.SECRETS else value
