"""What the settings page (lib/net/http_settings.py) reads and changes: cfg's schema and values, through cfg.set.

    rows()               every key: [key, kind, low or choices, high, unit, default, meaning, value, secret]
    set(key, value)      cfg.set: the same checks and messages as at the REPL, then posted to the tick
    save()               cfg.save

Imported by firmware/online.py at the first settings request. The schema
(cfg_schema.py, about 14 kB of bytecode from a .mpy) is imported only while
rows() builds its answer and dropped again, as cfg does. A change takes the
one path every change takes: cfg.set checks it (a refusal raises ValueError
or TypeError with cfg's message, which the page shows), and the running
app's listener posts it to run between two control ticks (changes.py).
Runs in the service loop, never in the control tick; allocates freely.
"""

import sys

import cfg


def rows():
    """[key, kind, low or choices, high, unit, default, meaning, value, secret?] per key, in cfg.show() order."""
    import cfg_schema

    try:
        specs = [cfg_schema.SCHEMA[key] for key in cfg_schema.KEYS]
        secrets = cfg_schema.SECRETS
    finally:
        sys.modules.pop("cfg_schema", None)
    values = cfg.values()
    found = []
    for spec in specs:
        key = spec[0]
        secret = key in secrets
        found.append(spec + (cfg.masked(key, values[key]) if secret else values[key], secret))
    return found


def set(key, value):  # noqa: A001 - the name of cfg.set, which it is
    return cfg.set(key, value)


def save():
    cfg.save()
