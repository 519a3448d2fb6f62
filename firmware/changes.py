"""Changes from outside the control tick, posted to run between two ticks.

    changes = Changes(app)
    cfg.on_change(changes.apply)      # cfg.set / cfg.reset at the REPL, and the HTTP write (it calls cfg.set)
    changes.reset_supervisor()        # app.reset_supervisor()
    changes.commission(30)            # app.commission(30), and the status page's button

The REPL and the network code never touch the controller, the supervisor or
the event ring themselves: a tick may run at any backward jump of their
code (a timer callback is scheduled there), and would then see a new export
limit with the old fail-safe plan, or a half-pushed event. Instead they post
the change with `micropython.schedule` to a pre-bound method. The scheduler
runs one callback at a time and never one inside another, and the ticks are
scheduled callbacks too, so the change is applied whole between two ticks:
no lock is needed. A new export limit acts at the next tick; a new inverter
list is swapped in whole (relist.py); `startup_limit_pct` queues a
persistent limit on each Hoymiles link.

The event log: the tick side pushes CONFIG_CHANGED (a = the key's index, b =
an int value) when it applies a change; the words for it ("export_limit_w
0 -> 600 W", made by cfg_words.py) wait in `notes` until the service
loop writes that event (lib/status/eventlog.py), so the line is stamped when
the change took effect and stands in time order among the tick's events.

The scheduler's queue holds 8 callbacks (the three loops take at most one
each); a full queue is retried for up to 200 ms, then refused with an
error and nothing changed. Allocates (REPL context).
"""

import sys
import time

import cfg
import events
from cfg import phase_limits
from compat import const, micropython

_LIMIT_KEYS = ("export_limit_w", "phase_export_limit_w")
_LIVE_KEYS = ("http_writes", "http_token")  # the HTTP server reads them at every request
_POST_TRIES = const(200)
_COMMISSION_MAX_MIN = const(240)
_NOTES_KEPT = const(16)
_AFTER_RESET = "takes effect after cfg.save() and a reset"


def post(function, argument):
    """Run function(argument) as a scheduled callback: between two ticks, never during one."""
    for _ in range(_POST_TRIES):
        try:
            micropython.schedule(function, argument)
            return
        except RuntimeError:  # the queue is full for a moment (timer ticks pending)
            time.sleep_ms(1)
    raise RuntimeError("the scheduler stays busy; nothing changed, try again")


class Changes:
    def __init__(self, app):
        self.app = app
        self.notes = []  # (key index, words) of changes whose CONFIG_CHANGED is not logged yet
        self._apply_ref = self._apply  # bound once
        self._reset_ref = self._reset
        self._commission_ref = self._commission

    def apply(self, key, value, text=None):
        """cfg listener: posts the change; returns when it takes effect (cfg.set prints it)."""
        when = self._when(key)
        index = cfg.index(key)
        if text is not None:
            del self.notes[:-_NOTES_KEPT]  # words whose event the full ring dropped are not kept for ever
            self.notes.append((index, text))
        post(self._apply_ref, (key, index, value if type(value) is int else 0))
        return when

    def _when(self, key):
        if key in _LIMIT_KEYS:
            return "live at the next control tick"
        if key in _LIVE_KEYS:
            return "live at the next HTTP request"
        if key == "inverters":
            when = "live at the next control tick; every inverter starts at its fail-safe limit"
            if any("sunspec_address" in row for row in cfg.get("inverters")):
                when += " (SunSpec: written once its map is read, a few seconds)"
            return when
        if key == "startup_limit_pct":
            if self.app.radio is None:
                return "nothing written: no Hoymiles inverter on the gateway's radios"
            return "written into each Hoymiles inverter's flash at the radio's next turn, at most once a day"
        return _AFTER_RESET

    def _apply(self, change):
        key, index, number = change
        app = self.app
        now_ms = app.clock_ms()
        app.ring.push(events.CONFIG_CHANGED, now_ms, index, number)
        if key in _LIMIT_KEYS:
            values = cfg.values()
            limits = phase_limits(values["phase_export_limit_w"])
            app.controller.set_export_limit(values["export_limit_w"], limits)
            if app.supervisor is not None:
                app.supervisor.set_limit(values["export_limit_w"], limits)
        elif key == "inverters" or key == "startup_limit_pct":
            _inverters(app, key, number, now_ms)

    def reset_supervisor(self):
        """Installer reset: ends a lockout and forgets recent stage-2 events (logged as RESET, saved)."""
        if self.app.supervisor is None:
            print("app: no supervisor (the meter is on the load side)")
            return
        post(self._reset_ref, None)
        print("app: supervisor reset; the controller regulates again at the next valid sample")

    def _reset(self, _):
        self.app.supervisor.reset(self.app.clock_ms())

    def commission(self, minutes):
        """Commissioning for `minutes` (0 ends it), posted like every change (logged as COMMISSION, saved)."""
        if type(minutes) is not int or not 0 <= minutes <= _COMMISSION_MAX_MIN:
            raise ValueError("minutes must be an int in 0..%d (0 ends commissioning)" % _COMMISSION_MAX_MIN)
        supervisor = self.app.supervisor
        if supervisor is None:
            print("app: no supervisor to commission (the meter is on the load side): nothing trips")
            return
        post(self._commission_ref, minutes * 60)
        if not minutes:
            print("app: commissioning ended; excursions trip again")
            return
        print("app: commissioning for %d min: excursions are recorded and logged but do not trip; app.status() "
              "shows the time left, app.commission(0) ends it" % minutes)
        if supervisor.tripped:
            print("app: a lockout holds meanwhile; app.reset_supervisor() ends it")

    def _commission(self, seconds):
        self.app.supervisor.commission(seconds, self.app.clock_ms())


def _inverters(app, key, number, now_ms):
    """A new inverter list or startup limit: relist.py (loaded for it and dropped, so it takes no RAM after)."""
    import relist

    try:
        if key == "inverters":
            relist.swap(app, cfg.values(), now_ms)
        else:
            relist.startup_limit(app, number, now_ms)
    finally:
        sys.modules.pop("relist", None)
