"""Changes from the REPL and the network reach the controller between two ticks, never half applied.

On the MicroPython unix port a timer callback scheduled while Python code runs
is run at that code's next backward jump, as on the ESP32. These tests fire
the control timer in the middle of a change and check what every tick sees.
"""

import cfg
import machine
from test_app_loop import Bench, _let_scheduled_run
from testkit import micropython_only


def _listening(bench):
    cfg.load("/nonexistent/config.json")
    cfg.forget_listeners()
    cfg.on_change(bench.app.apply)


def _fire_control_timer(bench):
    """The control timer's interrupt now: its tick is scheduled and may run at the next backward jump."""
    due = machine.active_timers()[bench.app.loop.timer_id]._due_ms
    bench.clock.advance_to_ms(due)
    ticks = bench.app.loop.ticks
    machine.run_timers(due)
    _let_scheduled_run()
    return bench.app.loop.ticks - ticks  # 1 where the tick ran at once: inside the change


@micropython_only
def test_ticks_fired_inside_a_limit_change_see_it_whole():
    bench = Bench(export_limit_w=0, load_w=500)
    app = bench.app
    try:
        _listening(bench)
        bench.run(40)
        seen = []  # what each tick saw: (controller's limit, supervisor's limit, fail-safe plan total)
        step = app.step

        def watched_step(now_ms):
            seen.append((app.controller.export_limit_dw, app.supervisor.limit_dw, sum(app.controller.failsafe_dw)))
            return step(now_ms)

        app.loop._step = watched_step
        set_export_limit = app.controller.set_export_limit
        fired = []

        def set_with_ticks_inside(export_limit_w, phase_export_limit_w=None):
            fired.append(_fire_control_timer(bench))  # before the controller's change
            set_export_limit(export_limit_w, phase_export_limit_w)
            fired.append(_fire_control_timer(bench))  # after it, before the supervisor's

        app.controller.set_export_limit = set_with_ticks_inside
        plans = {}  # limit -> the fail-safe plan total the controller makes for it
        for watts in (100, 600, 0, 800, 50, 300):
            cfg.set("export_limit_w", watts)
            bench.run(1)
            plans[watts * 10] = sum(app.controller.failsafe_dw)
        # A tick fired inside every change (the second interrupt finds it still pending), and one after.
        assert len(fired) == 12 and len(seen) >= 12
        assert sum(fired) == 0  # none ran inside: each waited for the change to be whole
        for controller_dw, supervisor_dw, plan_dw in seen:
            assert controller_dw == supervisor_dw, seen
            if controller_dw in plans:
                assert plan_dw == plans[controller_dw], (controller_dw, plan_dw, plans)
        assert app.loop.faults == 0
    finally:
        cfg.forget_listeners()
        bench.close()


def test_the_supervisor_reset_is_applied_between_ticks():
    bench = Bench(export_limit_w=0, load_w=500)
    app = bench.app
    try:
        bench.run(4)
        app.supervisor.lockout_left_s = 100
        app.supervisor.trip_reason = 1
        app.reset_supervisor()
        _let_scheduled_run()
        assert app.supervisor.lockout_left_s == 0
        bench.run(4)
        assert any("installer reset" in line for line in app.memory_log)
    finally:
        bench.close()
