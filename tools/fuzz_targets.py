"""The fuzz targets of tools/fuzz.py, and the harness that runs them on the MicroPython unix port.

One class per parser (fuzz_modbus.py, fuzz_hoymiles.py, fuzz_net.py); each `one()` tries one input on a
simulated clock and counts in a `Result`. `run()` adds the heap measurement (live heap after gc.collect()
at the end minus after the first tenth of the inputs) and the hang bound (wall-clock time per input).
"""

import gc

from fuzz_hoymiles import HmAnswersTarget, HmFragmentsTarget
from fuzz_modbus import MetersTarget, ModbusTarget, SunspecTarget
from fuzz_net import HttpTarget, MqttTarget
from late_slave import Rng

try:
    from time import ticks_ms as _wall_ms
except ImportError:  # CPython
    import time

    def _wall_ms():
        return int(time.monotonic() * 1000)


HANG_MS = 2000  # wall-clock time one input may take before it counts as a hang


class Result:
    def __init__(self):
        self.inputs = 0
        self.escaped = 0
        self.hangs = 0
        self.wrong = 0
        self.checked = 0  # values accepted and found right: the fuzzer got through to the parser
        self.heap_growth = 0
        self.notes = []

    def note(self, kind, text):
        if len(self.notes) < 5:
            self.notes.append("%s: %s" % (kind, text))


def _mem():
    gc.collect()
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0


def run(name, n, seed):
    result = Result()
    target = TARGETS[name](Rng(seed * 7919 + len(name)), result)
    warm = max(1, n // 10)
    base = 0
    for index in range(n):
        if index == warm:
            base = _mem()
        started = _wall_ms()
        try:
            target.one()
        except Exception as error:  # noqa: BLE001 - an escaped exception is what we count
            result.escaped += 1
            result.note("escaped", "%s %r" % (type(error).__name__, error))
            target.reset()
        if _wall_ms() - started > HANG_MS:
            result.hangs += 1
            result.note("hang", "input %d took %d ms" % (index, _wall_ms() - started))
        result.inputs += 1
    result.heap_growth = _mem() - base
    return result


TARGETS = {
    "modbus": ModbusTarget,
    "meters": MetersTarget,
    "hm_fragments": HmFragmentsTarget,
    "hm_answers": HmAnswersTarget,
    "mqtt": MqttTarget,
    "http": HttpTarget,
    "sunspec": SunspecTarget,
}
