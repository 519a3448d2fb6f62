"""The status LED: one pattern (and WS2812 colour) per mode, stepped from the tick without allocating."""

import allocs
import machine
import status_led
from testkit import micropython_only

TICK_MS = 250
REGULATING, NO_METER, FAILSAFE, LOCKOUT = 0, 1, 2, 3  # guard.FAILSAFE_REASONS indices


def _seen(led, reason, commission_left_s, pin_id, seconds=4, start_ms=0):
    """What the LED showed at each 250 ms tick over `seconds`."""
    shown = []
    led.guard.failsafe_reason = reason
    led.supervisor.commission_left_s = commission_left_s
    for tick in range(seconds * 1000 // TICK_MS):
        led.step(start_ms + tick * TICK_MS)
        shown.append(machine.pin_state(pin_id).value)
    return shown


class Guard:
    failsafe_reason = 0


class Supervisor:
    commission_left_s = 0


def _led(kind, pin_id, bitstream=None):
    guard, supervisor = Guard(), Supervisor()
    if bitstream is None:
        return status_led.build({"pin": pin_id, "kind": kind}, guard, supervisor)
    return status_led.StatusLed(machine.Pin(pin_id, machine.Pin.OUT), guard, supervisor, bitstream)


def test_each_mode_has_its_own_pattern_at_the_default_tick():
    machine.reset_hardware()
    led = _led("gpio", 2)
    patterns = {
        "regulating": _seen(led, REGULATING, 0, 2),
        "no meter": _seen(led, NO_METER, 0, 2),
        "fail-safe": _seen(led, FAILSAFE, 0, 2),
        "lockout": _seen(led, LOCKOUT, 0, 2),
        "commissioning": _seen(led, REGULATING, 1800, 2),
        "no meter while commissioning": _seen(led, NO_METER, 1800, 2),
    }
    assert patterns["regulating"] == [1] * 15 + [0]  # on, one short off per 4 s
    assert patterns["no meter"] == [1, 0] * 8  # fast blink
    assert sum(patterns["fail-safe"]) == 2 and patterns["fail-safe"][:3] == [1, 0, 1]  # two short blinks
    assert patterns["lockout"] == [1] * 12 + [0] * 4  # 3 s on, 1 s off
    assert patterns["commissioning"] == ([1] * 4 + [0] * 4) * 2  # 1 s on, 1 s off
    assert patterns["no meter while commissioning"] == patterns["no meter"]  # a fault shows over commissioning
    shown = [tuple(pattern) for name, pattern in patterns.items() if name != "no meter while commissioning"]
    assert len(set(shown)) == 5


def test_a_ws2812_shows_the_mode_in_colour_and_is_written_only_on_a_change():
    machine.reset_hardware()
    written = []

    def bitstream(pin, encoding, timing, data):
        written.append(bytes(data))

    led = _led("ws2812", 48, bitstream)
    _seen(led, LOCKOUT, 0, 48)
    assert written == [b"\x00\x30\x00", b"\x00\x00\x00"]  # red (GRB) for 3 s, dark for 1 s
    del written[:]
    _seen(led, REGULATING, 60, 48, seconds=1)
    assert written == [b"\x00\x00\x30"]  # commissioning: blue


def test_a_board_without_an_led_has_none():
    assert status_led.build(None, Guard()) is None


@micropython_only
def test_step_allocates_nothing():
    machine.reset_hardware()
    written = bytearray(3)

    def bitstream(pin, encoding, timing, data):
        written[0] = data[0]

    gpio = _led("gpio", 2)
    ws2812 = _led("ws2812", 48, bitstream)
    guard, supervisor = gpio.guard, gpio.supervisor
    ws2812.guard, ws2812.supervisor = guard, supervisor
    now = [0]

    def tick():
        now_ms = now[0] = now[0] + TICK_MS
        guard.failsafe_reason = (now_ms >> 12) % 4  # a new mode every 4 s, commissioning now and then
        supervisor.commission_left_s = (now_ms >> 14) & 1
        gpio.step(now_ms)
        ws2812.step(now_ms)

    allocs.assert_free(tick, 2000)
