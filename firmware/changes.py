"""Changes from outside the control tick, posted to run between two ticks.

    changes = Changes(app)
    cfg.on_change(changes.apply)      # cfg.set / cfg.reset at the REPL, and the HTTP write (it calls cfg.set)
    changes.reset_supervisor()        # app.reset_supervisor()

The REPL and the network code never touch the controller, the supervisor or
the event ring themselves: a tick may run at any backward jump of their
code (a timer callback is scheduled there), and would then see a new export
limit with the old fail-safe plan, or a half-pushed event. Instead they post
the change with `micropython.schedule` to a pre-bound method. The scheduler
runs one callback at a time and never one inside another, and the ticks are
scheduled callbacks too, so the change is applied whole between two ticks:
no lock is needed. A new export limit acts at the next tick.

The scheduler's queue holds 8 callbacks (the three loops take at most one
each); a full queue is retried for up to 200 ms, then refused with an
error and nothing changed. Allocates (REPL context).
"""

import time

import cfg
import events
from compat import const, micropython
from controller import NO_LIMIT

_LIMIT_KEYS = ("export_limit_w", "phase_export_limit_w")
_LIVE_KEYS = ("http_writes", "http_token")  # the HTTP server reads them at every request
_POST_TRIES = const(200)


def phase_limits(value):
    """The controller's and supervisor's per-phase limits for the phase_export_limit_w setting."""
    return None if value == NO_LIMIT else (value, value, value)


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
        self._apply_ref = self._apply  # bound once
        self._reset_ref = self._reset

    def apply(self, key, value):
        """cfg listener: posts the change (logged as CONFIG_CHANGED: a = the key's index, b = an int value)."""
        post(self._apply_ref, (key, cfg.index(key), value if type(value) is int else 0))
        if key not in _LIMIT_KEYS and key not in _LIVE_KEYS:
            print("cfg: %s takes effect after cfg.save() and a reset" % key)

    def _apply(self, change):
        key, index, number = change
        app = self.app
        app.ring.push(events.CONFIG_CHANGED, app.clock_ms(), index, number)
        if key in _LIMIT_KEYS:
            values = cfg.values()
            limits = phase_limits(values["phase_export_limit_w"])
            app.controller.set_export_limit(values["export_limit_w"], limits)
            if app.supervisor is not None:
                app.supervisor.set_limit(values["export_limit_w"], limits)

    def reset_supervisor(self):
        """Installer reset: ends a lockout and forgets recent stage-2 events (logged as RESET, saved)."""
        if self.app.supervisor is None:
            print("app: no supervisor (the meter is on the load side)")
            return
        post(self._reset_ref, None)
        print("app: supervisor reset; the controller regulates again at the next valid sample")

    def _reset(self, _):
        self.app.supervisor.reset(self.app.clock_ms())
