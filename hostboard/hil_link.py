"""The host board's inverter link: hands the Fleet's new commands to the simulated plant and back.

On the host board the inverters live in the plant model of tools/plant.py,
in the CPython process that runs `make hil`. This link plays the radio's
part for the firmware: every command the controller queues is passed on
once (`take_commands()`); what the simulated radio reports (sent, acked,
failed, AC output) comes back as `event()` and is written into the Fleet
with the plant's own tick counts, exactly as a real link would.

Runs on the unix port only; it allocates (lists of commands) and is not
part of the device build.
"""

from array import array

from fleet import CMD_QUEUED


class HilLink:
    def __init__(self, fleet):
        self.fleet = fleet
        self._passed_t_ms = array("i", [-1] * fleet.count)
        self._passed_dw = array("i", [-1] * fleet.count)
        self._new = []

    def step(self, now_ms):
        fleet = self.fleet
        for index in range(fleet.count):
            if fleet.cmd_state[index] != CMD_QUEUED:
                continue
            if fleet.cmd_t_ms[index] == self._passed_t_ms[index] and fleet.target_dw[index] == self._passed_dw[index]:
                continue
            self._passed_t_ms[index] = fleet.cmd_t_ms[index]
            self._passed_dw[index] = fleet.target_dw[index]
            self._new.append((index, fleet.target_dw[index], fleet.cmd_t_ms[index]))

    def take_commands(self):
        new, self._new = self._new, []
        return new

    def event(self, kind, index, value, t_ms):
        fleet = self.fleet
        if kind == "s":
            fleet.sent(index, t_ms)
        elif kind == "a":
            fleet.acked(index, t_ms)
        elif kind == "f":
            fleet.failed(index, t_ms)
        elif kind == "o":
            fleet.report_output(index, value, t_ms)
        else:
            raise ValueError("unknown link event %r" % kind)
