"""The event log: a bounded record on the device's file system of what happened.

Events are raised on the hot path into an `events.EventRing`; `drain()` takes
them out and appends one line each to the log, outside the control tick:
formatting allocates and a flash write can block for milliseconds.

The log is two files, `<path>` (current) and `<path>.1` (previous). When the
current file grows past half of `max_bytes` it is renamed over the previous
one. LittleFS renames atomically and keeps a file as it was at its last close,
so after a power cut at any point both files read back as whole lines, and the
log never takes much more than `max_bytes` of flash.

A line reads `2026-11-24 10:31:07 excursion peak 83.5 W over, 16.2 s`, or
`+3605s ...` (seconds since boot) while the clock is not set.
"""

import os
import time

import events
import plausibility
from compat import ticks_diff
from guard import FAILSAFE_REASONS

CLOCK_VALID_FROM_YEAR = 2024
# The one name table of the supervisor's trip reasons (TRIP_* of lib/control/supervisor.py).
TRIP_NAMES = ("none", "excursion too long", "too many stage-2 events")


def describe(kind, a, b):
    """The text of one event, without its time."""
    name = events.NAMES.get(kind, "event %d" % kind)
    if kind in (events.EXCURSION, events.STAGE2):
        return "%s peak %d.%d W over, %d.%d s" % (name, a // 10, a % 10, b // 1000, b % 1000 // 100)
    if kind == events.TRIP:
        return "%s: %s" % (name, TRIP_NAMES[a] if 0 < a < len(TRIP_NAMES) else a)
    if kind == events.IMPLAUSIBLE:
        reason = plausibility.NAMES[a] if 0 <= a < len(plausibility.NAMES) else a
        return "%s: %s on L%d" % (name, reason, b + 1)
    if kind == events.FAILSAFE_ENTERED:
        return "%s: %s" % (name, FAILSAFE_REASONS[a] if 0 < a < len(FAILSAFE_REASONS) else a)
    return name


def _stamp(event_s, uptime_s):
    if event_s is not None:
        t = time.gmtime(event_s)
        if t[0] >= CLOCK_VALID_FROM_YEAR:
            return "%04d-%02d-%02d %02d:%02d:%02d" % (t[0], t[1], t[2], t[3], t[4], t[5])
    return "+%ds" % uptime_s


def take_lines(ring, now_ms, wall_s=None, boot_ms=None):
    """Take every event out of `ring` as a log line, and a line for events the ring lost.

    wall_s: the clock's time.time() now, or None when it is not set;
    boot_ms: the ticks at boot, to stamp events with uptime instead.
    """
    lines = []
    while ring.pop():
        age_s = ticks_diff(now_ms, ring.last_t_ms) // 1000
        uptime_s = 0 if boot_ms is None else ticks_diff(ring.last_t_ms, boot_ms) // 1000
        stamp = _stamp(None if wall_s is None else wall_s - age_s, uptime_s)
        lines.append("%s %s" % (stamp, describe(ring.last_kind, ring.last_a, ring.last_b)))
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

    def drain(self, ring, now_ms, wall_s=None, boot_ms=None):
        """Write every event waiting in `ring` (see `take_lines`); return the lines written."""
        lines = take_lines(ring, now_ms, wall_s, boot_ms)
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
