"""The one place where CPython is made to look like the ESP32.

`lib/` imports `const`, the `ticks_*` functions and `micropython` from here
instead of from `micropython` and `time`, so the same source runs on the
ESP32, on the MicroPython unix port and on CPython.

Ticks wrap at 2**30 everywhere, as they do on the ESP32: the unix port's
ticks wrap at 2**62 and CPython has none, so there a wrap bug could never
show. Where the interpreter's own ticks already wrap at 2**30 (the ESP32)
its built-ins are used unchanged. Nothing here allocates per call on
MicroPython: the emulated functions only do small-int arithmetic.
"""

try:
    import micropython
    from micropython import const
except ImportError:  # CPython
    import sys

    def const(value):
        return value

    def _decorator(function):
        return function

    def _schedule(function, argument):
        function(argument)

    micropython = type(sys)("micropython")
    micropython.const = const
    micropython.native = _decorator
    micropython.viper = _decorator
    micropython.schedule = _schedule
    sys.modules["micropython"] = micropython

import sys
import time
from array import array

# 2**30 itself is already a long int on the ESP32, so only the mask is named.
TICKS_MAX = const(0x3FFFFFFF)
_TICKS_HALF = const(0x20000000)

try:
    _native_period_is_esp32 = time.ticks_add(0, -1) == TICKS_MAX
except AttributeError:  # CPython
    _native_period_is_esp32 = False

if _native_period_is_esp32:
    from time import ticks_add, ticks_diff, ticks_ms, ticks_us
else:
    try:
        _ticks_ms_raw = time.ticks_ms
        _ticks_us_raw = time.ticks_us
    except AttributeError:  # CPython

        def _ticks_ms_raw():
            return time.monotonic_ns() // 1000000

        def _ticks_us_raw():
            return time.monotonic_ns() // 1000

    # These run only where the interpreter's ticks do not wrap like the ESP32's
    # (CPython, the unix port), where ints are wide enough for the sums below.
    def ticks_ms():
        return _ticks_ms_raw() & TICKS_MAX

    def ticks_us():
        return _ticks_us_raw() & TICKS_MAX

    def ticks_add(ticks, delta):
        return (ticks + delta) & TICKS_MAX

    def ticks_diff(ticks1, ticks2):
        return ((ticks1 - ticks2 + _TICKS_HALF) & TICKS_MAX) - _TICKS_HALF


def ints(count, value=0):
    """A new array of `count` ints, each `value`: the preallocated state of the control and link modules
    (one copy of this helper; allocates, so it runs when they are built)."""
    values = array("i", bytes(4 * count))
    if value:
        for index in range(count):
            values[index] = value
    return values


def build(module, name, obj, args, options):
    """`module.name(obj, *args, **options)`, then `module` is dropped again: a class whose constructor (or other
    boot-only code) is big keeps it in such a module (control_init.py, meter_init.py ...), which runs at boot
    (and for a new inverter list) and is then freed, instead of staying in RAM as bytecode while the gateway
    runs. Allocates."""
    result = getattr(__import__(module), name)(obj, *args, **options)
    sys.modules.pop(module, None)
    return result
