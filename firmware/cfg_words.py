"""What a configuration change does, in words: for cfg.set's confirmation and the event log.

    cfg_words.text("export_limit_w", 0, 600)   # "export_limit_w 0 -> 600 W"; None when nothing changes

Imported by cfg.set only while it confirms a change, and dropped again: a
running gateway keeps neither its code nor its strings. Secrets are never
shown (set / cleared); an inverter list says which serials came, went or
changed. Runs at the REPL; allocates freely.
"""

import sys


def text(key, old, new):
    """The change of `key` from `old` to `new`, in words, with the unit of the schema; None (printed as
    "nothing changed") when they are equal."""
    import cfg_schema

    try:
        if new == old:
            shown = "***" if new and key in cfg_schema.SECRETS else new
            print("cfg: %s is %r already; nothing changed" % (key, shown))
            return None
        if key in cfg_schema.SECRETS:
            return "%s %s" % (key, "set" if new else "cleared")
        if cfg_schema.SCHEMA[key][1] == cfg_schema.INVERTERS:
            return "%s %d -> %d%s" % (key, len(old or ()), len(new), _rows_changed(old or [], new))
        unit = cfg_schema.SCHEMA[key][4]
        return "%s %r -> %r%s" % (key, old, new, " " + unit if unit else "")
    finally:
        sys.modules.pop("cfg_schema", None)


def _rows_changed(old, new):
    """ (+added, -removed, ~changed serials), in list order, or ''."""
    before = {row["serial"]: row for row in old}
    after = {row["serial"]: row for row in new}
    marks = ["+" + row["serial"] for row in new if row["serial"] not in before]
    marks += ["-" + row["serial"] for row in old if row["serial"] not in after]
    marks += ["~" + row["serial"] for row in new if before.get(row["serial"], row) != row]
    return " (%s)" % ", ".join(marks) if marks else ""
