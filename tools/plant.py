"""The simulated plant: inverters, the grid meter and the inverter radio link.

Each class is one piece of hardware with the behaviour the reference notes
describe (hoymiles-radio.md 4.4 and 8, peer-controllers.md 5): an inverter
applies a limit after a dead time that varies from command to command, moves
its output at a ramp rate, settles a little below a limit that binds it,
rounds the limit down to its step (OpenDTU truncates) and never goes below its
minimum unless switched off; a meter samples every period, delivers after a
latency, with noise (a share of the reading plus a floor), and goes silent
during dropouts; one radio serves one transaction at a time, a limit command or
an output poll, so they queue behind each other. The gateway has one radio per
family its inverters use (nRF24 for HM, CMT2300A for HMS/HMT), each its own
link; a CMT2300A link counts its airtime with lib/hoymiles/hm_band's
`Airtime`, the firmware's own account, so its polls are paced as on the device.
Times are simulation seconds (floats); the Fleet sees ticks from `ticks()`.
"""

import math
import random
from collections import deque

from compat import TICKS_MAX
from fleet import min_limit_dw
from hm_band import Airtime, Band
from hm_commands import DT_REAL_TIME, LIMIT_ABSOLUTE, build_limit, build_multi, limit_type_code
from hm_frames import MAX_FRAME_LEN
from hm_link import MAX_SENDS

RADIOS = ("nrf24", "cmt")  # a scenario's inverters[].radio: HM on an nRF24, HMS/HMT on a CMT2300A
_ADDRESS = bytes(4)
# The frames a CMT2300A link transmits for a poll and a limit, their lengths from the firmware's builders.
POLL_FRAME_LEN = build_multi(bytearray(MAX_FRAME_LEN), _ADDRESS, _ADDRESS, DT_REAL_TIME, 0)
LIMIT_FRAME_LEN = build_limit(bytearray(MAX_FRAME_LEN), _ADDRESS, _ADDRESS, 0, limit_type_code(LIMIT_ABSOLUTE, 1))

# The simulated tick counter starts 10 s before the 2**30 wrap, so a
# controller that compares ticks without ticks_diff fails in every run.
TICKS_START = (1 << 30) - 10000


def ticks(t_s):
    return (TICKS_START + int(round(t_s * 1000))) & TICKS_MAX


def record_sample(reading, t_s, phase_w):
    """Write a meter sample delivered at `t_s` ([W per phase]) into a Reading, as the meter driver
    does on the device: valid, the next seq, the delivery tick, total and per-phase deci-watts."""
    reading.valid = True
    reading.seq += 1
    reading.t_ms = ticks(t_s)
    reading.power_dw = int(round(sum(phase_w) * 10))
    for phase in range(3):
        reading.phase_power_dw[phase] = int(round(phase_w[phase] * 10))


class Inverter:
    """One inverter. Each command's dead time (`dead_time_jitter`) is drawn for the 0.1 s slot it is
    received in, from a stream `rng` seeds: a command received at the same moment draws the same
    dead time whichever controller sent it, and how many commands came before does not matter (the
    controllers are compared on the same inverter, not on a lottery of draws)."""

    def __init__(self, spec, pv_now_w, rng=None):
        self.name = spec["name"]
        self.rated_w = float(spec["rated_w"])
        self.phase = spec["phase"] - 1
        self.inputs = spec["inputs"]
        self.dead_time_s = float(spec["dead_time_s"])
        self.jitter = [float(x) for x in spec.get("dead_time_jitter", (1.0, 1.0))]
        self.settle = float(spec.get("settle_pct", 0.0)) / 100.0
        self.ramp_w_per_s = float(spec["ramp_w_per_s"])
        self.step_w = self.rated_w * float(spec["limit_step_pct"]) / 100.0
        self.command_s = float(spec["command_s"])
        self.poll_s = float(spec.get("poll_s", 0.0))
        self.ack_loss = float(spec["ack_loss"])
        # The Fleet's rule (lib/control/fleet.py), in watts: the one copy of the minimum.
        self.min_w = min_limit_dw(int(spec["rated_w"]) * 10, self.inputs) / 10.0
        self._draws = rng.getrandbits(32) if rng is not None else 0
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
        """A limit command arrived over the radio; it takes effect after its dead time, drawn for
        each command, and never before the commands received earlier (they act in order)."""
        lo, hi = self.jitter
        slot = int(round(t_s * 10))
        dead_s = self.dead_time_s * (random.Random(self._draws * 1000003 + slot).uniform(lo, hi) if hi != lo else lo)
        effect_s = t_s + dead_s
        if self._pending:
            effect_s = max(effect_s, self._pending[-1][0])
        self._pending.append((effect_s, self.applied_limit(limit_w)))

    def advance(self, t_s, dt_s, pv_w):
        pending = self._pending
        while pending and pending[0][0] <= t_s:
            self.limit_w = pending.popleft()[1]
        target = self.limit_w
        if target < pv_w:
            target *= 1.0 - self.settle  # bound by its limit: it settles a little below it
        target = min(target, pv_w)
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
    deviation of noise_pct of each phase's reading, plus Gaussian noise of
    standard deviation noise_floor_w on each of the grid's `phases`.
    """

    def __init__(self, spec, rng, phases=3):
        self.position = spec["position"]
        self.period_s = float(spec["period_s"])
        self.latency_s = float(spec["latency_s"])
        self.noise = float(spec["noise_pct"]) / 100.0
        self.floor_w = float(spec.get("noise_floor_w", 0.0))
        self.phases = phases
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
                self._in_flight.append((t_s + self.latency_s, self._noisy(seen)))
        delivered = False
        while self._in_flight and self._in_flight[0][0] <= t_s + 1e-9:
            _, self.phase_w = self._in_flight.popleft()
            self.total_w = sum(self.phase_w)
            self.sample_t_s = t_s
            self.seq += 1
            delivered = True
        return delivered

    def _noisy(self, seen):
        gauss = self._rng.gauss
        noisy = [w + gauss(0.0, self.noise * abs(w)) if self.noise else w for w in seen]
        if self.floor_w:
            for phase in range(self.phases):
                noisy[phase] += gauss(0.0, self.floor_w)
        return noisy


class Link:
    """One radio between the Fleet and some of the plant's inverters, scheduled as lib/hoymiles/hm_link.py does.

    One transaction at a time: a limit command or an output poll, for the
    Fleet rows in `rows` (default: every inverter). Priority as in the
    firmware's link: a queued command that lowers a limit, then a poll that is
    two periods late, then a command that raises a limit, then a due poll
    (polls round robin); among commands the highest `fleet.rank`, then the
    lowest index. A command: `sent`, the limit reaches the inverter after its
    `command_s` and `acked` follows. Each answer is lost with the inverter's
    `ack_loss` (the inverter got the limit all the same): the link sends the
    command again when its answer window (`timeout_s`) has passed, as hm_link
    does, and reports `failed` when MAX_SENDS sends got no answer; the radio
    stays busy meanwhile. A poll keeps the radio busy for the inverter's
    `poll_s`, then its AC output is reported with `report_output`. Each
    inverter is polled every `poll_period_s` (the scenario's telemetry period
    unless the controller chooses its own, by setting the attribute), each
    cycle lengthened by U(0, `jitter_s`), from a phase drawn from the seed.

    With an `airtime` (hm_band.Airtime: a CMT2300A link) every frame is
    counted as the firmware counts it; a poll starts only when `may_poll`
    allows it, a command that raises a limit only when `may_command` does,
    and a command that lowers a limit (or the first one, or off) is never held back.
    """

    def __init__(self, fleet, inverters, rng, telemetry_period_s, timeout_s, jitter_s=0.0, rows=None,
                 airtime=None):
        self.fleet = fleet
        self.inverters = inverters
        self.rows = list(range(len(inverters))) if rows is None else list(rows)
        self.airtime = airtime
        self.radio = RADIOS[0] if airtime is None else RADIOS[1]
        self._rng = rng
        self.timeout_s = timeout_s
        self.poll_period_s = telemetry_period_s
        self.jitter_s = jitter_s
        self._next_poll_s = [rng.uniform(0.0, telemetry_period_s) for _ in inverters]
        self._polled = [False] * len(inverters)
        self._acked_w = [-1.0] * len(inverters)  # the last acknowledged limit, -1 while unknown (hm_link)
        self._busy = None  # (index, limit_w, delivered_at_s, done_at_s, ok); limit_w None: a poll
        self._next_poll_index = 0
        self.sent = 0
        self.polls = 0

    def service(self, t_s):
        tick = ticks(t_s)
        if self._busy is not None:
            self._finish(t_s, tick)
        while self._busy is None and self._start(t_s, tick):
            if self._busy[2] is not None and self._busy[2] <= t_s + 1e-9:
                self._finish(t_s, tick)  # a poll that takes no radio time: the radio is free again

    def _start(self, t_s, tick):
        """Begin the next transaction, if any is due; True if one began."""
        if self._command(t_s, tick, True):
            return True
        may_poll = self.airtime is None or self.airtime.may_poll(tick)
        index = self._overdue_poll(t_s) if may_poll else -1
        if index < 0 and self._command(t_s, tick, False):
            return True
        if index < 0 and may_poll:
            index = self._due_poll(t_s)
        if index < 0:
            return False
        self._poll(index, t_s)
        return True

    def _finish(self, t_s, tick):
        index, limit_w, deliver_s, done_s, ok = self._busy
        if limit_w is None:
            if t_s >= done_s - 1e-9:
                self.fleet.report_output(index, int(round(self.inverters[index].output_w * 10)), tick)
                self._busy = None
            return
        if deliver_s is not None and t_s >= deliver_s - 1e-9:
            self.inverters[index].receive(deliver_s, limit_w)  # the first send arrives; answers may not
            self._busy = (index, limit_w, None, done_s, ok)
        if t_s >= done_s - 1e-9:
            if ok:
                self.fleet.acked(index, tick)
                self._acked_w[index] = limit_w
            else:
                self.fleet.failed(index, tick)
            self._busy = None

    def _command(self, t_s, tick, lowering):
        """Send the queued command that lowers a limit (or, with `lowering` False, raises one) of the
        highest `fleet.rank`, then the lowest index, as the firmware's link picks them; True if one went."""
        fleet = self.fleet
        best = -1
        index = fleet.next_queued()
        while index >= 0:
            if index in self.rows and self._lowers(index) == lowering and (
                    best < 0 or fleet.rank[index] > fleet.rank[best]):
                best = index
            index = fleet.next_queued(index + 1)
        if best < 0 or not (lowering or self.airtime is None or self.airtime.may_command(tick)):
            return False
        index = best
        fleet.sent(index, tick)
        self.sent += 1
        if self.airtime is not None:
            self.airtime.spend(LIMIT_FRAME_LEN, False)
        inverter = self.inverters[index]
        sends = 1  # as hm_link: a lost answer, and the command goes again after the answer window
        while sends <= MAX_SENDS and self._rng.random() < inverter.ack_loss:
            sends += 1
        ok = sends <= MAX_SENDS
        window_s = max(self.timeout_s, inverter.command_s)
        done_s = t_s + (sends - 1) * window_s + inverter.command_s if ok else t_s + MAX_SENDS * window_s
        self._busy = (index, fleet.target_dw[index] / 10.0, t_s + inverter.command_s, done_s, ok)
        return True

    def _lowers(self, index):
        """As hm_link's: a target below the last acknowledged limit, the first one, or off."""
        target_w, acked_w = self.fleet.target_dw[index] / 10.0, self._acked_w[index]
        return target_w < acked_w or acked_w < 0 or target_w == 0

    def _overdue_poll(self, t_s):
        """An inverter polled before whose next poll is a period late, or -1 (round robin, as the firmware's
        link takes them, so a link that polls slower than asked still serves every inverter)."""
        return self._next_in_turn(lambda index: self._polled[index] and
                                  t_s >= self._next_poll_s[index] + self.poll_period_s - 1e-9)

    def _due_poll(self, t_s):
        return self._next_in_turn(lambda index: t_s >= self._next_poll_s[index] - 1e-9)

    def _next_in_turn(self, due):
        rows = self.rows
        count = len(rows)
        for k in range(count):
            index = rows[(self._next_poll_index + k) % count]
            if due(index):
                self._next_poll_index = (self._next_poll_index + k + 1) % count
                return index
        return -1

    def _poll(self, index, t_s):
        jitter = self._rng.uniform(0.0, self.jitter_s) if self.jitter_s else 0.0
        # The next poll is due one period (plus jitter) after this one starts, as the firmware times it.
        self._next_poll_s[index] = t_s + self.poll_period_s + jitter
        self.polls += 1
        self._polled[index] = True
        if self.airtime is not None:
            self.airtime.spend(POLL_FRAME_LEN, True)
        done_s = t_s + self.inverters[index].poll_s
        self._busy = (index, None, done_s, done_s, True)


class Radios:
    """The gateway's radios: one Link per radio family the scenario's inverters use (the firmware runs one
    HoymilesLink per radio), serviced one after the other in each tick. A CMT2300A link gets the
    airtime account of the scenario's `cmt_region` (hm_band.Band: 36 s per rolling hour in the EU)."""

    def __init__(self, fleet, inverters, specs, seed, telemetry_period_s, timeout_s, jitter_s, cmt_region):
        self.links = []
        for radio in RADIOS:
            rows = [i for i, spec in enumerate(specs) if spec["radio"] == radio]
            if not rows:
                continue
            # The nRF24 link keeps the seed stream it always had, so HM-only runs repeat exactly.
            name = "%d:link" % seed if radio == "nrf24" else "%d:link-%s" % (seed, radio)
            airtime = Airtime(Band(cmt_region).budget_ms) if radio == "cmt" else None
            self.links.append(Link(fleet, inverters, random.Random(name), telemetry_period_s, timeout_s, jitter_s,
                                   rows, airtime))

    def service(self, t_s):
        for link in self.links:
            link.service(t_s)

    @property
    def sent(self):
        return sum(link.sent for link in self.links)
