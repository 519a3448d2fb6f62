"""Prove that a callable allocates nothing, on the MicroPython unix port.

`measure(fn, n)` calls `fn()` n times with the heap unlocked, counting the
bytes allocated with `micropython.mem_total()`, then n times again under
`micropython.heap_lock()`, where any allocation raises MemoryError. One
warm-up call comes first, so one-time lazy set-up (a first attribute cache,
a buffer grown once) does not count: the device runs the same call forever.

The loop itself allocates nothing (`for _ in range(n)` compiles to a counter).
Only the unix port has `mem_total`; on CPython `measure` raises `Skip`.

Why both counts: heap_lock alone misses one real allocation. A bytecode
function whose frame (locals plus value stack) is larger than
VM_MAX_STATE_ON_STACK (11 words) gets the frame from the heap whenever the heap
is unlocked, as it always is on the device, and silently from the C stack
when it is locked. Such a call passes under heap_lock yet leaves ~150 bytes of
garbage per call on the ESP32. mem_total sees it.
"""

import gc

from testkit import Skip

try:
    import micropython

    _mem_total = micropython.mem_total
except (ImportError, AttributeError):
    micropython = None
    _mem_total = None


class Report:
    def __init__(self, calls, bytes_allocated, error):
        self.calls = calls
        self.bytes_allocated = bytes_allocated
        self.error = error  # the MemoryError raised under heap_lock, or None

    @property
    def allocated(self):
        return self.bytes_allocated > 0 or self.error is not None

    def __repr__(self):
        return "Report(calls=%d, bytes_allocated=%d, error=%r)" % (
            self.calls,
            self.bytes_allocated,
            self.error,
        )


def measure(function, n=1000):
    if _mem_total is None:
        raise Skip("allocation counting needs the MicroPython unix port")
    function()
    gc.collect()
    before = _mem_total()
    for _ in range(n):
        function()
    bytes_allocated = _mem_total() - before
    error = None
    micropython.heap_lock()
    try:
        for _ in range(n):
            function()
    except MemoryError as exc:
        error = exc
    finally:
        micropython.heap_unlock()
    return Report(n, bytes_allocated, error)


FRAME_HINT = (
    " (no MemoryError under heap_lock: probably a function frame too large for the C stack limit"
    " VM_MAX_STATE_ON_STACK, which MicroPython puts on the heap when it can; split the function or use fewer locals)"
)


def assert_free(function, n=1000):
    """Fail unless `function()` allocates nothing over n calls."""
    report = measure(function, n)
    hint = FRAME_HINT if report.error is None else ""
    assert not report.allocated, "allocates: %d bytes over %d calls, under heap_lock: %r%s" % (
        report.bytes_allocated,
        n,
        report.error,
        hint,
    )
    return report
