"""The timer-driven loop: ticks, the watchdog fed only on progress, faults contained, no allocation."""

import allocs
import control_loop
import machine
from compat import ticks_add, ticks_ms
from testkit import micropython_only, raises


class Step:
    """A stand-in for the application's step: reports progress as told, counts calls, may fail."""

    def __init__(self):
        self.calls = 0
        self.progress = True
        self.fail = None

    def __call__(self, now_ms):
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return self.progress


def _started(step, **options):
    machine.reset_hardware()
    loop = control_loop.ControlLoop(step, **options)
    loop.start()
    return loop


def _run_periods(loop, periods):
    """Fire the loop's timer `periods` times, letting each scheduled tick run."""
    timer = machine.active_timers()[loop.timer_id]
    for _ in range(periods):
        machine.run_timers(timer._due_ms)
        _let_scheduled_run()


def _let_scheduled_run():
    # On MicroPython a scheduled function runs at the next backwards jump.
    for _ in range(3):
        pass


def test_the_timer_is_not_timer_0_and_has_the_configured_period():
    loop = _started(Step(), period_ms=250)
    timers = machine.active_timers()
    assert list(timers) == [1]
    assert timers[1].period_ms == 250 and timers[1].mode == machine.Timer.PERIODIC
    raises(ValueError, control_loop.ControlLoop, Step(), 250, 10000, 0)
    assert machine.watchdog().timeout_ms == 10000
    loop.stop(stretch_watchdog=False)


def test_the_watchdog_is_fed_only_while_the_step_makes_progress():
    step = Step()
    loop = _started(step, watchdog_ms=2000)
    wdt = machine.watchdog()
    _run_periods(loop, 10)
    assert step.calls == 10 and wdt.feeds == 10
    fed_at = wdt.last_feed_ms
    step.progress = False
    _run_periods(loop, 20)
    assert step.calls == 30 and wdt.feeds == 10
    assert wdt.last_feed_ms == fed_at
    assert wdt.expired(ticks_add(fed_at, 2001))  # the chip resets: a stuck loop does not survive
    step.progress = True
    _run_periods(loop, 1)
    assert wdt.feeds == 11 and not wdt.expired(ticks_ms())


def test_a_stopped_timer_starves_the_watchdog():
    step = Step()
    loop = _started(step, watchdog_ms=2000)
    _run_periods(loop, 3)
    loop._timer.deinit()  # e.g. a soft reset took the timer away
    assert machine.run_timers(ticks_add(ticks_ms(), 100000)) == 0
    assert machine.watchdog().feeds == 3


def test_a_tick_never_queues_twice():
    step = Step()
    loop = _started(step)
    loop.pending = True  # the previous tick is still waiting to run
    loop._irq(None)
    assert loop.overruns == 1 and step.calls == 0


def test_faults_are_counted_and_a_persistent_fault_stops_the_loop_safely():
    step = Step()
    stopped = []
    loop = _started(step, max_faults=5, on_stop=lambda: stopped.append(True), watchdog_ms=2000)
    step.fail = OSError(5)
    _run_periods(loop, 3)
    step.fail = None
    _run_periods(loop, 1)  # a fault is counted when the next tick finds the step did not finish
    assert loop.faults == 3 and loop.faults_in_row == 0 and loop.running
    assert machine.watchdog().feeds == 1
    step.fail = ValueError("bug")
    _run_periods(loop, 5)
    assert loop.running and loop.faults_in_row == 4
    _run_periods(loop, 1)
    assert not loop.running and stopped == [True]
    assert machine.active_timers() == {}
    # The watchdog cannot be stopped; it gets an hour, so the REPL stays usable.
    assert machine.watchdog().timeout_ms == control_loop.MAINTENANCE_WDT_MS


@micropython_only
def test_thousands_of_ticks_under_heap_lock():
    step = Step()
    loop = _started(step)
    timer = machine.active_timers()[loop.timer_id]

    def period():
        machine.run_timers(timer._due_ms)
        _let_scheduled_run()

    allocs.assert_free(period, n=2000)
    # A MemoryError inside a scheduled tick would be printed and swallowed: count the ticks too.
    assert loop.ticks == 4001 and loop.faults == 0 and machine.watchdog().feeds == 4001


def _run_boot_py():
    with open(_firmware_dir() + "/boot.py") as file:
        exec(file.read(), {})


def _firmware_dir():
    import control_loop as module

    path = module.__file__
    return path[: path.rfind("/")] if "/" in path else "."


def test_after_a_soft_reset_boot_py_gives_a_running_watchdog_an_hour():
    step = Step()
    loop = _started(step, watchdog_ms=2000)
    assert machine.RTC().memory() == b"wdt"
    loop._timer.deinit()  # what a soft reset does to the timer; the watchdog stays armed
    _run_boot_py()
    assert machine.watchdog().timeout_ms == control_loop.MAINTENANCE_WDT_MS


def test_boot_py_arms_no_watchdog_when_none_ran():
    machine.reset_hardware()
    _run_boot_py()
    assert machine.watchdog() is None


def test_the_tick_counters_wrap_inside_the_small_int_range():
    step = Step()
    loop = _started(step)
    loop.ticks = loop.feeds = (1 << 30) - 1
    _run_periods(loop, 2)
    assert loop.ticks == 1 and loop.feeds == 1
