"""Cost of one control step for 1, 6 and 30 inverters: a quiet step, and a step that regulates.

Each round advances the clock by 250 ms (the control period); every fourth round brings a
new meter sample that swings between export and import, so the controller alternately cuts
(spread over several inverters) and raises, while the link acknowledges every command and
an inverter reports its output. The figures are for the unix port; the ESP32 is roughly
20-50 times slower per bytecode.
"""

from array import array

import allocs
import controller
import fleet
import reading
from compat import ticks_add, ticks_diff, ticks_us

ROUNDS = 2000
POWERS_DW = array("i", (-25000, 30000, 150, 12000))


class Plant:
    def __init__(self, count):
        self.fleet = fleet.Fleet(count)
        for index in range(count):
            self.fleet.add(index, 800 + 100 * (index % 8), phase=index % 3, inputs=2)
        self.reading = reading.Reading()
        self.control = controller.Controller(self.fleet, 0, None, min_interval_ms=0, settle_ms=0, response_ms=250)
        self.round = array("i", (0, 0))  # round number, now_ms

    def step(self):
        state = self.round
        state[0] += 1
        state[1] = ticks_add(state[1], 250)
        r = self.reading
        if state[0] & 3 == 0:
            r.valid = True
            r.seq += 1
            r.t_ms = state[1]
            r.power_dw = POWERS_DW[(state[0] >> 2) & 3]
            r.phase_power_dw[0] = r.power_dw
        self.control.step(state[1], r)
        table = self.fleet
        index = table.next_queued()
        while index >= 0:
            table.sent(index, state[1])
            table.acked(index, state[1])
            index = table.next_queued(index + 1)
        index = state[0] % table.count
        table.report_output(index, table.target_dw[index], state[1])


for count in (1, 6, 30):
    plant = Plant(count)
    for _ in range(20):
        plant.step()
    commands = plant.control.commands
    elapsed_us = 0
    worst_us = 0
    for _ in range(ROUNDS):
        start = ticks_us()
        plant.step()
        took_us = ticks_diff(ticks_us(), start)
        elapsed_us += took_us
        worst_us = max(worst_us, took_us)
    commands = plant.control.commands - commands
    report = allocs.measure(plant.step, 400)
    print(
        "controller, %2d inverters: %4d us per step on average, %4d us at worst (incl. the fake link), "
        "%d commands in %d steps, %d bytes allocated in 400 steps (unix port)"
        % (count, elapsed_us // ROUNDS, worst_us, commands, ROUNDS, report.bytes_allocated)
    )
