"""The simulated plant: inverters, the grid meter and the inverter radio link.

Each class is one piece of hardware with the behaviour the reference notes
describe (hoymiles-radio.md 4.4 and 8, peer-controllers.md 5): an inverter
applies a limit after a dead time, moves its output at a ramp rate, rounds the
limit down to its step (OpenDTU truncates) and never goes below its minimum
unless switched off; a meter samples every period, delivers after a latency,
with noise, and goes silent during dropouts; one radio serves one command at a
time, so commands to several inverters queue behind each other.
Times are simulation seconds (floats); the Fleet sees ticks from `ticks()`.
"""

import math
from collections import deque

from compat import TICKS_MAX

# The simulated tick counter starts 10 s before the 2**30 wrap, so a
# controller that compares ticks without ticks_diff fails in every run.
TICKS_START = (1 << 30) - 10000


def ticks(t_s):
    return (TICKS_START + int(round(t_s * 1000))) & TICKS_MAX


class Inverter:
    def __init__(self, spec, pv_now_w):
        self.name = spec["name"]
        self.rated_w = float(spec["rated_w"])
        self.phase = spec["phase"] - 1
        self.inputs = spec["inputs"]
        self.dead_time_s = float(spec["dead_time_s"])
        self.ramp_w_per_s = float(spec["ramp_w_per_s"])
        self.step_w = self.rated_w * float(spec["limit_step_pct"]) / 100.0
        self.command_s = float(spec["command_s"])
        self.ack_loss = float(spec["ack_loss"])
        self.min_w = max(0.02 * self.rated_w, 12.0 * self.inputs)
        # Inverters start at their persistent limit, 100 %, producing what the sun gives.
        self.limit_w = self.rated_w
        self.output_w = min(self.rated_w, pv_now_w)
        self._pending = deque()

    def applied_limit(self, limit_w):
        """What the inverter makes of a commanded limit: 0 = off, else stepped and clamped."""
        if limit_w <= 0:
            return 0.0
        stepped = math.floor(limit_w / self.step_w + 1e-9) * self.step_w if self.step_w > 0 else limit_w
        return min(self.rated_w, max(self.min_w, stepped))

    def receive(self, t_s, limit_w):
        """A limit command arrived over the radio; it takes effect after the dead time."""
        self._pending.append((t_s + self.dead_time_s, self.applied_limit(limit_w)))

    def advance(self, t_s, dt_s, pv_w):
        pending = self._pending
        while pending and pending[0][0] <= t_s:
            self.limit_w = pending.popleft()[1]
        target = min(self.limit_w, pv_w)
        output = self.output_w
        if target > output:
            output = min(target, output + self.ramp_w_per_s * dt_s)
        else:
            output = max(target, output - self.ramp_w_per_s * dt_s)
        # The panels cap the output at once: a cloud is not ramped.
        self.output_w = min(output, pv_w)


class Meter:
    """A grid (or load-side) meter: per-phase samples, total = sum of phases.

    `seq` counts delivered samples, `sample_t_s` is when the newest one arrived;
    `total_w` and `phase_w` are its values. Noise is Gaussian with a standard
    deviation of noise_pct of each phase's reading.
    """

    def __init__(self, spec, rng):
        self.position = spec["position"]
        self.period_s = float(spec["period_s"])
        self.latency_s = float(spec["latency_s"])
        self.noise = float(spec["noise_pct"]) / 100.0
        self.dropouts_s = [(float(a), float(b)) for a, b in spec["dropouts_s"]]
        self._rng = rng
        self._next_sample_s = 0.0
        self._in_flight = deque()
        self.seq = 0
        self.sample_t_s = None
        self.total_w = 0.0
        self.phase_w = [0.0, 0.0, 0.0]

    def online(self, t_s):
        return not any(a <= t_s < b for a, b in self.dropouts_s)

    def update(self, t_s, grid_w, load_w):
        """Take a sample if one is due, deliver those whose latency has passed; True on delivery."""
        if t_s >= self._next_sample_s - 1e-9:
            self._next_sample_s += self.period_s
            if self.online(t_s):
                seen = load_w if self.position == "load" else grid_w
                gauss = self._rng.gauss
                noisy = [w + gauss(0.0, self.noise * abs(w)) if self.noise else w for w in seen]
                self._in_flight.append((t_s + self.latency_s, noisy))
        delivered = False
        while self._in_flight and self._in_flight[0][0] <= t_s + 1e-9:
            _, self.phase_w = self._in_flight.popleft()
            self.total_w = sum(self.phase_w)
            self.sample_t_s = t_s
            self.seq += 1
            delivered = True
        return delivered


class Link:
    """One radio between the Fleet and the plant's inverters, as a firmware link drives it.

    It takes the next queued command (round robin), reports `sent`, hands the
    limit to the inverter after its command service time and reports `acked`;
    when the ack is lost the inverter still got the limit, and `failed` follows
    after the link timeout, during which the radio stays busy. Every inverter
    is polled every telemetry period (phase drawn from the seed) and its AC
    output reported with `report_output`.
    """

    def __init__(self, fleet, inverters, rng, telemetry_period_s, timeout_s):
        self.fleet = fleet
        self.inverters = inverters
        self._rng = rng
        self.timeout_s = timeout_s
        self.telemetry_period_s = telemetry_period_s
        self._next_poll_s = [rng.uniform(0.0, telemetry_period_s) for _ in inverters]
        self._busy = None  # (index, limit_w, delivered_at_s, lost, free_at_s)
        self._next_index = 0
        self.sent = 0

    def service(self, t_s):
        fleet = self.fleet
        tick = ticks(t_s)
        busy = self._busy
        if busy is not None:
            index, limit_w, deliver_s, lost, free_s = busy
            if deliver_s is not None and t_s >= deliver_s - 1e-9:
                self.inverters[index].receive(deliver_s, limit_w)
                if not lost:
                    fleet.acked(index, tick)
                    busy = None
                else:
                    busy = (index, limit_w, None, lost, free_s)
            if busy is not None and deliver_s is None and t_s >= free_s - 1e-9:
                fleet.failed(index, tick)
                busy = None
            self._busy = busy
        if self._busy is None:
            index = fleet.next_queued(self._next_index)
            if index < 0:
                index = fleet.next_queued(0)
            if index >= 0:
                fleet.sent(index, tick)
                self.sent += 1
                inverter = self.inverters[index]
                lost = self._rng.random() < inverter.ack_loss
                self._busy = (index, fleet.target_dw[index] / 10.0, t_s + inverter.command_s, lost,
                              t_s + max(self.timeout_s, inverter.command_s))
                self._next_index = (index + 1) % fleet.count
        polls = self._next_poll_s
        for index, due in enumerate(polls):
            if t_s >= due - 1e-9:
                polls[index] = due + self.telemetry_period_s
                fleet.report_output(index, int(round(self.inverters[index].output_w * 10)), tick)
