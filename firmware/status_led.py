"""The status LED: one blink pattern per mode, stepped from the control tick.

    led = status_led.build(board.get("status_led"), guard, supervisor)   # None without an LED in the board
    led.step(now_ms)                                                      # every tick, after the guard's

The mode is the guard's fail-safe reason (lib/control/guard.py
FAILSAFE_REASONS), or commissioning while the supervisor's window is open,
or regulating. Patterns run over a 4-second cycle of 16 slots of 250 ms; at
the default 250 ms tick the LED follows each slot, a slower tick shows a
coarser version of the same pattern:

    mode            pattern (4 s)                        colour (WS2812)
    regulating      on, one short off at the cycle's end   green
    no meter        fast blink, 2 per second                red
    fail-safe       two short blinks, then dark             amber
    lockout         on 3 s, off 1 s                         red
    commissioning   slow blink, 1 s on, 1 s off             blue

Boards name the LED as {"pin": N, "kind": "gpio"} (lit when high) or
{"pin": N, "kind": "ws2812"} (one addressable LED, written with
machine.bitstream). A pin that does not change is not written again.

Timing and allocation: `step` is a few small-int operations and, when the
LED changes, one pin write (GPIO) or one 24-bit bitstream (WS2812: about
30 us with interrupts off). It allocates nothing (proved with heap_lock in
host_tests/portable/test_status_led.py).
"""

from compat import const

_REGULATING = const(0)  # the modes are the guard's fail-safe reasons, and commissioning
_COMMISSIONING = const(4)
_SLOT_MS = const(250)
# Per mode: 16 bits, slot k lit when bit k is set.
_PATTERNS = const((0x7FFF, 0x5555, 0x0005, 0x0FFF, 0x0F0F))
# Per mode: WS2812 bytes in the chip's order, green, red, blue (dim: an indicator, not a lamp).
_COLOURS = const((b"\x20\x00\x00", b"\x00\x20\x00", b"\x10\x20\x00", b"\x00\x30\x00", b"\x00\x00\x30"))
_DARK = const(b"\x00\x00\x00")
_WS2812_TIMING_NS = const((400, 850, 800, 450))  # high and low times of a 0 bit, then of a 1 bit (800 kHz)


class StatusLed:
    def __init__(self, pin, guard, supervisor=None, write=None):
        """pin: a machine.Pin in output mode; guard: what says the fail-safe reason (failsafe_reason);
        supervisor: the export supervisor (commission_left_s), None with a load-side meter; write:
        machine.bitstream for a WS2812, None for a plain LED."""
        self.pin = pin
        self.guard = guard
        self.supervisor = supervisor
        self.write = write  # a name MicroPython has built in: no interned string of its own
        self.mode = -1
        self.value = -1  # what the LED shows now: mode * 2 + lit; -1 before the first step

    # Two small methods: a frame over 11 words (locals and stack) would be taken from the heap at every call.
    def step(self, now_ms):
        reason = self.guard.failsafe_reason
        if reason == _REGULATING and self.supervisor is not None and self.supervisor.commission_left_s > 0:
            reason = _COMMISSIONING
        lit = (_PATTERNS[reason] >> (now_ms // _SLOT_MS % 16)) & 1
        if reason * 2 + lit != self.value:
            self._set(reason, lit)

    def _set(self, mode, value):
        self.value = mode * 2 + value
        self.mode = mode
        if self.write is None:
            self.pin.value(value)
        else:
            self.write(self.pin, 0, _WS2812_TIMING_NS, _COLOURS[mode] if value else _DARK)


def build(led, guard, supervisor=None):
    """The board file's LED ({"pin", "kind"}) showing what `guard` and `supervisor` say; None without one."""
    if not led:
        return None
    import machine

    pin = machine.Pin(led["pin"], machine.Pin.OUT, value=0)  # any other kind than "ws2812" is a plain LED
    return StatusLed(pin, guard, supervisor, machine.bitstream if led.get("kind") == "ws2812" else None)
