"""The names of the states people see, one table each, and a look-up in the event log's tables.

    MODE_NAMES[controller.mode]       # "starting", "failsafe", "regulating"
    SUPERVISOR_STATES[state]          # "ok", "excursion", "lockout", "commissioning"
    CMD_NAMES[fleet.cmd_state[i]]     # "idle", "queued", "sent", "acked", "failed"
    eventlog_name("TRIP_NAMES", 2)    # a name from lib/status/eventlog.py's tables

The status document (plant_status.py), MQTT (lib/net/telemetry.py) and
app.status() (firmware/report.py) all read these. Small on purpose:
app.status() loads it while it prints, on a heap with little room, where
plant_status.py (and eventlog.py, which eventlog_name loads and drops again)
would not fit. Allocates only in eventlog_name (an import).
"""

import sys

MODE_NAMES = ("starting", "failsafe", "regulating")  # controller.mode
SUPERVISOR_STATES = ("ok", "excursion", "lockout", "commissioning")
CMD_NAMES = ("idle", "queued", "sent", "acked", "failed")  # fleet.cmd_state


def eventlog_name(table, index):
    """A name from eventlog's `table` (NAMES: an event kind's, TRIP_NAMES: a trip reason's), the one copy of
    each, or "unknown"; eventlog leaves RAM again unless it was loaded."""
    loaded = "eventlog" in sys.modules
    import eventlog

    try:
        names = getattr(eventlog, table)
        return names[index] if 0 <= index < len(names) else "unknown"
    finally:
        if not loaded:
            sys.modules.pop("eventlog", None)
