"""The event log: a bounded record on the device's file system of what happened.

Events are raised on the hot path into an `events.EventRing`; `drain()` takes
them out and appends one line each to the log, outside the control tick:
formatting allocates and a flash write can block for milliseconds.

The log is two files, `<path>` (current) and `<path>.1` (previous). When the
current file grows past half of `max_bytes` it is renamed over the previous
one. LittleFS renames atomically and keeps a file as it was at its last close,
so after a power cut at any point both files read back as whole lines, and the
log never takes much more than `max_bytes` of flash.

A line reads `2026-11-24 10:31:07 excursion ended: peak 83.5 W over the limit
for 16.2 s`, or `+3605s ...` (seconds since boot) while the clock is not set.
Every event kind has its words here (names and reasons, never bare numbers).
Events are stamped when they are pushed (lib/common/events.py), so lines are
in time order as written. A configuration change's words ("export_limit_w
0 -> 600 W") come from the REPL side (firmware/changes.py `notes`), matched
to its CONFIG_CHANGED event by the key's index.
"""

import os
import time

import events
from compat import const, ticks_diff
from guard import FAILSAFE_REASONS

CLOCK_VALID_FROM_YEAR = 2024
# The short name of each event kind (events.py), by kind: what MQTT publishes and each line starts with. Here,
# not in events.py, so they take RAM only while a line is written.
NAMES = (
    "unknown",
    "boot",  # BOOT
    "failsafe entered",  # FAILSAFE_ENTERED
    "failsafe left",  # FAILSAFE_LEFT
    "meter lost",  # METER_LOST
    "meter back",  # METER_BACK
    "excursion",  # EXCURSION
    "stage-2 excursion",  # STAGE2
    "trip",  # TRIP
    "lockout ended",  # LOCKOUT_ENDED
    "installer reset",  # RESET
    "configuration changed",  # CONFIG_CHANGED
    "implausible meter data",  # IMPLAUSIBLE
    "commissioning",  # COMMISSION
    "trip withheld",  # TRIP_HELD
)
# plausibility.check()'s reasons (OK, VOLTAGE, CURRENT, FREQUENCY, POWER).
IMPLAUSIBLE_NAMES = ("ok", "voltage out of range", "current above rating", "frequency out of range",
                     "power above U*I")
# The one name table of the supervisor's trip reasons (TRIP_* of lib/control/supervisor.py).
TRIP_NAMES = ("none", "excursion too long", "too many stage-2 events")
_HELD_NAMES = const(("", "commissioning", "no inverters configured"))  # why a trip was withheld (TRIP_HELD's b)
_UNKNOWN = const("unknown (%d)")

# Names only from the tables (a new interned name here costs RAM for good: the module is loaded for every
# write), so the texts are whole format strings, not helpers.


def describe(kind, a, b, text=None):
    """The words of one event, without its time; `text`: a configuration change's words."""
    name = NAMES[kind] if 0 < kind < len(NAMES) else "event %d" % kind
    if kind == events.EXCURSION:
        return "excursion ended: peak %d.%d W over the limit for %d.%d s" % (a // 10, a % 10, b // 1000,
                                                                            b % 1000 // 100)
    if kind == events.STAGE2:
        return "%s: over the limit for %d.%d s so far, peak %d.%d W over" % (name, b // 1000, b % 1000 // 100,
                                                                            a // 10, a % 10)
    if kind == events.TRIP or kind == events.TRIP_HELD:
        reason = TRIP_NAMES[a] if 0 <= a < len(TRIP_NAMES) else _UNKNOWN % a
        if kind == events.TRIP:
            return "%s: %s; lockout, app.reset_supervisor() ends it" % (name, reason)
        why = _HELD_NAMES[b] if 0 <= b < len(_HELD_NAMES) else _UNKNOWN % b
        return "%s (%s): %s; no lockout" % (name, why, reason)
    if kind == events.IMPLAUSIBLE:
        reason = IMPLAUSIBLE_NAMES[a] if 0 <= a < len(IMPLAUSIBLE_NAMES) else _UNKNOWN % a
        return "%s: %s on L%d" % (name, reason, b + 1)
    if kind == events.FAILSAFE_ENTERED:
        return "%s: %s" % (name, FAILSAFE_REASONS[a] if 0 <= a < len(FAILSAFE_REASONS) else _UNKNOWN % a)
    if kind == events.COMMISSION:
        if a:
            return "commissioning for %d min: excursions are recorded but do not trip" % (a // 60)
        return "commissioning over: excursions trip again"
    if kind == events.CONFIG_CHANGED:
        return "configuration: " + text if text else name
    if kind == events.LOCKOUT_ENDED:
        return "lockout ended (its time ran out)"
    if kind == events.RESET:
        return "installer reset: lockout ended, recent stage-2 events forgotten"
    return name


def _stamp(event_s, uptime_s):
    if event_s is not None:
        t = time.gmtime(event_s)
        if t[0] >= CLOCK_VALID_FROM_YEAR:
            return "%04d-%02d-%02d %02d:%02d:%02d" % (t[0], t[1], t[2], t[3], t[4], t[5])
    return "+%ds" % uptime_s


def take_lines(ring, now_ms, wall_s=None, boot_ms=None, notes=None):
    """Take every event out of `ring` as a log line, and a line for events the ring lost.

    wall_s: the clock's time.time() now, or None when it is not set;
    boot_ms: the ticks at boot, to stamp events with uptime instead;
    notes: the words of configuration changes, [(key index, words)], taken from it as their events come
    (older ones, whose event the full ring lost, are dropped on the way).
    """
    lines = []
    while ring.pop():
        age_s = ticks_diff(now_ms, ring.last_t_ms) // 1000
        uptime_s = 0 if boot_ms is None else ticks_diff(ring.last_t_ms, boot_ms) // 1000
        stamp = _stamp(None if wall_s is None else wall_s - age_s, uptime_s)
        text = None
        while ring.last_kind == events.CONFIG_CHANGED and notes and text is None:
            index, text = notes.pop(0)
            if index != ring.last_a:
                text = None
        lines.append("%s %s" % (stamp, describe(ring.last_kind, ring.last_a, ring.last_b, text)))
    if ring.lost:
        lines.append("%d events lost (ring full)" % ring.lost)
        ring.lost = 0
    return lines


def _text(raw):
    try:
        return raw.decode("utf-8")
    except UnicodeError:
        return "".join(chr(byte) if byte < 0x80 else "?" for byte in raw)


class EventLog:
    def __init__(self, path="/events.log", max_bytes=16384):
        self.path = path
        self.previous = path + ".1"
        self.half_bytes = max_bytes // 2
        self.written = 0

    def drain(self, ring, now_ms, wall_s=None, boot_ms=None, notes=None):
        """Write every event waiting in `ring` (see `take_lines`); return the lines written."""
        lines = take_lines(ring, now_ms, wall_s, boot_ms, notes)
        if lines:
            self.append(lines)
        return lines

    def append(self, lines):
        with open(self.path, "a") as handle:
            for line in lines:
                handle.write(line)
                handle.write("\n")
            size = handle.tell()
        self.written += len(lines)
        if size > self.half_bytes:
            os.rename(self.path, self.previous)

    def lines(self):
        """Every line kept, oldest first. A line that is not UTF-8 (a flash fault, a file written by
        something else) comes back with each byte above 0x7F as "?", never as an error."""
        found = []
        for path in (self.previous, self.path):
            try:
                with open(path, "rb") as handle:
                    found.extend(_text(line.rstrip(b"\n")) for line in handle)
            except OSError:
                pass
        return found

    def print(self):
        for line in self.lines():
            print(line)
