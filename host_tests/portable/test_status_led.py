"""The status LED: one pattern (and WS2812 colour) per mode, stepped from the tick without allocating."""

import allocs
import machine
import status_led
from testkit import micropython_only, raises

TICK_MS = 250
REGULATING, NO_METER, FAILSAFE, LOCKOUT = 0, 1, 2, 3  # guard.FAILSAFE_REASONS indices


def _seen(led, reason, commission_left_s, pin_id, seconds=4, start_ms=0):
    """What the LED showed at each 250 ms tick over `seconds`."""
    shown = []
    for tick in range(seconds * 1000 // TICK_MS):
        led.step(start_ms + tick * TICK_MS, reason, commission_left_s)
        shown.append(machine.pin_state(pin_id).value)
    return shown


def test_each_mode_has_its_own_pattern_at_the_default_tick():
    machine.reset_hardware()
    led = status_led.build({"pin": 2, "kind": "gpio"})
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

    led = status_led.StatusLed(machine.Pin(48, machine.Pin.OUT), bitstream)
    _seen(led, LOCKOUT, 0, 48)
    assert written == [b"\x00\x30\x00", b"\x00\x00\x00"]  # red (GRB) for 3 s, dark for 1 s
    del written[:]
    _seen(led, REGULATING, 60, 48, seconds=1)
    assert written == [b"\x00\x00\x30"]  # commissioning: blue


def test_a_board_without_an_led_has_none_and_a_bad_kind_is_refused():
    assert status_led.build(None) is None
    raises(ValueError, status_led.build, {"pin": 2, "kind": "rgb"})


@micropython_only
def test_step_allocates_nothing():
    machine.reset_hardware()
    written = bytearray(3)

    def bitstream(pin, encoding, timing, data):
        written[0] = data[0]

    gpio = status_led.build({"pin": 2, "kind": "gpio"})
    ws2812 = status_led.StatusLed(machine.Pin(48, machine.Pin.OUT), bitstream)
    now = [0]

    def tick():
        now_ms = now[0] = now[0] + TICK_MS
        reason = (now_ms >> 12) % 4  # a new mode every 4 s, commissioning now and then
        commission_left_s = (now_ms >> 14) & 1
        gpio.step(now_ms, reason, commission_left_s)
        ws2812.step(now_ms, reason, commission_left_s)

    allocs.assert_free(tick, 2000)
