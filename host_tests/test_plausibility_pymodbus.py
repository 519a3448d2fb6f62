"""Issue 8 end to end: a pymodbus meter sends values no healthy meter can; driver -> Reading -> plausibility ->
controller.hold_failsafe -> fail-safe limits and one IMPLAUSIBLE event per episode, for every rule; good values
bring regulation back.

The firmware's own parts run on CPython in real time: Modbus master, meter driver, guard.Guard, the controller
and a Fleet; the meter is host_tests/meter_emulator.py on a pseudo-terminal.
"""

import time

import events
import meters
import modbus
import plausibility
import pytest
import serial
from compat import ticks_ms
from controller import MODE_FAILSAFE, MODE_REGULATING, Controller
from fleet import Fleet
from guard import FAILSAFE_IMPLAUSIBLE, Guard
from meter_emulator import EmulatedMeter, MeterBus
from meter_read import SerialStream
from reading import Reading

GOOD = {"power_w": 460.0, "voltage_v": [230.0], "current_a": [2.0], "frequency_hz": 50.0}


class Plant:
    def __init__(self, port):
        self.stream = serial.Serial(port, baudrate=9600, timeout=0)
        master = modbus.Master(SerialStream(self.stream), timeout_ms=300, retries=1, silence_ms=30)
        self.reading = Reading()
        # Every slow block after every power read: the voltage/current block comes round quickly.
        self.meter = meters.create("ddsu666", master, 1, self.reading, period_ms=100, slow_every=1)
        self.ring = events.EventRing(32)
        self.fleet = Fleet(1)
        self.fleet.add(0, rated_w=800)
        self.controller = Controller(self.fleet, export_limit_w=0)
        self.guard = Guard(self.reading, "ddsu666", self.ring, self.controller)
        self.seen = []

    def step(self):
        now_ms = ticks_ms()
        self.guard.meter_step(self.meter, now_ms)
        self.guard.before_control(now_ms)
        self.controller.step(now_ms, self.reading)
        self.guard.after_control(now_ms)
        for index in range(self.fleet.count):  # the inverter takes every command at once
            if self.fleet.next_queued() == index:
                self.fleet.sent(index, now_ms)
                self.fleet.acked(index, now_ms)
        while self.ring.pop():
            self.seen.append((self.ring.last_kind, self.ring.last_a, self.ring.last_b))

    def run_until(self, done, limit_s=15.0):
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            self.step()
            if done():
                return
            time.sleep(0.01)
        raise AssertionError("not reached within %.0f s; events %r" % (limit_s, self.seen))


@pytest.fixture
def plant():
    emulated = EmulatedMeter("ddsu666", address=1)
    emulated.set(**GOOD)
    bus = MeterBus(emulated)
    bus.start()
    built = Plant(bus.port)
    built.emulated = emulated
    yield built
    built.stream.close()
    bus.stop()


@pytest.mark.parametrize(
    "bad, reason",
    [
        ({"voltage_v": [300.0]}, plausibility.VOLTAGE),
        ({"current_a": [95.0], "power_w": 4000.0}, plausibility.CURRENT),  # above the DDSU666's 80 A
        ({"frequency_hz": 67.0}, plausibility.FREQUENCY),
        ({"power_w": 3000.0}, plausibility.POWER),  # 3 kW through 2 A at 230 V
    ],
)
def test_every_rule_turns_meter_values_into_fail_safe_and_one_event(plant, bad, reason):
    plant.run_until(lambda: plant.controller.mode == MODE_REGULATING and plant.guard.checks >= 2)
    assert not plant.guard.implausible
    plant.emulated.set(**bad)
    # A sample late on a loaded PC may also start the fail-safe for a moment: wait for the verdict.
    plant.run_until(lambda: plant.guard.implausible and plant.controller.mode == MODE_FAILSAFE)
    assert plant.guard.implausible and plant.controller.hold_reason == FAILSAFE_IMPLAUSIBLE
    assert plant.fleet.target_dw[0] == plant.controller.failsafe_dw[0]
    checks = plant.guard.checks
    plant.run_until(lambda: plant.guard.checks >= checks + 2)  # the episode goes on: no second event
    implausible = [event for event in plant.seen if event[0] == events.IMPLAUSIBLE]
    assert implausible == [(events.IMPLAUSIBLE, reason, 0)]
    assert (events.FAILSAFE_ENTERED, FAILSAFE_IMPLAUSIBLE, 0) in plant.seen
    assert plant.controller.mode == MODE_FAILSAFE
    plant.emulated.set(**GOOD)
    plant.run_until(lambda: plant.controller.mode == MODE_REGULATING)
    assert not plant.guard.implausible and (events.FAILSAFE_LEFT, 0, 0) in plant.seen
