"""The peer controllers, re-implemented from their documented laws and defaults.

Sources: /work/shared/reference/peer-controllers.md (sections 1-4); the fair
configuration each peer gets is listed in docs/SIMULATION.md. Every peer sees
what a real installation gives it and nothing more: the meter through
`Site.poll_meter` (or, for the OnBattery DPL, each sample as it arrives), the
inverters' AC output only as reported at the DTU poll (`fleet.output_dw`), and
its commands' fate through `fleet.cmd_state`. Commands go through the same
Fleet and radio links as ours. Each controller may choose its DTU's inverter
poll period (`Site.poll_inverters_every`) and pays for it in radio time; on a
CMT2300A link the airtime account holds every controller's polls to the
budget, as the firmware's link would. Peers run in CPython with floats; they
are models, not device code. `step(t_s)` is called every simulation step.
"""

from collections import deque

from fleet import CMD_ACKED, CMD_FAILED
from hm_air import nrf_poll_period_ms
from hm_link import POLL_PERIOD_MS
from plant import ticks


class Site:
    """What a controller is configured with and can observe."""

    def __init__(self, scenario, fleet, meter, radios=None):
        self.fleet = fleet
        self.meter = meter
        self.links = [] if radios is None else radios.links
        self.export_limit_w = scenario.export_limit_w
        self.phase_export_limit_w = scenario.phase_export_limit_w
        self.position = scenario.meter["position"]
        self.phases = scenario.phases
        self.rated_w = [float(inv["rated_w"]) for inv in scenario.inverters]
        self.min_w = scenario.min_output_w
        self.count = len(self.rated_w)

    def poll_inverters_every(self, period_s):
        """The controller's choice of DTU poll period (the scenario's telemetry period otherwise), on every
        radio; a CMT2300A link still polls no faster than its airtime allows."""
        for link in self.links:
            link.poll_period_s = period_s

    @property
    def total_limit_w(self):
        """The peers only know a total limit: the per-phase limits, if any, are summed into it
        (over the grid's phases: the two legs of a split-phase grid)."""
        limits = [self.export_limit_w]
        phase_limits = (self.phase_export_limit_w or [None])[:self.phases]
        if None not in phase_limits:
            limits.append(sum(phase_limits))
        return min(limits)

    def reported_w(self, index):
        return self.fleet.output_dw[index] / 10.0

    def reported_total_w(self):
        return sum(self.fleet.output_dw) / 10.0

    def grid_w(self, meter_w):
        """Grid power from a meter value; on a load-side meter, reading - reported output."""
        return meter_w - self.reported_total_w() if self.position == "load" else meter_w

    def poll_meter(self, t_s):
        """A peer's meter request: the newest sample as grid power, or None when the meter is silent."""
        if not self.meter.online(t_s) or self.meter.seq == 0:
            return None
        return self.grid_w(self.meter.total_w)

    def command(self, index, limit_w, t_s):
        self.fleet.command(index, int(round(limit_w * 10)), ticks(t_s))


class Dpl:
    """OpenDTU-OnBattery Dynamic Power Limiter, solar inverters (reference 1.1-1.5, 1.9).

    One calculation per "command -> ack -> fresh stats -> meter sample 2 s
    newer than those stats" round trip; target = reported output + grid -
    target consumption; greedy distribution; no raise of a PV-limited inverter.
    A failed command is sent again at the next DTU poll until it is acked or
    the 30 s update timeout passes. The meter counts as valid for 30 s after
    its last sample (3 x the 10 s default poll; 30 s for pushed meters).
    """

    BASE_LOAD_W = 100.0
    LOWER_LIMIT_W = 10.0
    HYSTERESIS_W = 0.0
    BACKOFF_MIN_S = 0.128
    BACKOFF_MAX_S = 1.024
    UPDATE_TIMEOUT_S = 30.0
    METER_AFTER_STATS_S = 2.0
    METER_VALID_S = 30.0
    DTU_POLL_S = 5.0  # OpenDTU's default inverter poll interval
    MARGIN_W = 0.0  # TargetPowerConsumption above -export limit (0: the default setpoint)

    def __init__(self, site):
        self.site = site
        site.poll_inverters_every(self.DTU_POLL_S)
        n = site.count
        self.limit_w = list(site.rated_w)  # read back from the inverters at boot
        self.pending = [False] * n
        self.sent_t_s = [0.0] * n
        self.resend_seq = [0] * n  # stats count when a failed command was last sent again
        self.done_seq = [0] * n  # stats count when the last command completed
        self.stats_t_s = [None] * n
        self.backoff_s = self.BACKOFF_MIN_S
        self.last_calc_s = -1e9
        # Every meter sample is read as it arrives (the maintainers' advice: poll the meter every 1 s).
        self.meter_seq = 0
        self.meter_t_s = None
        self.meter_w = 0.0
        # Export limit L mapped into the setpoint: aim for a grid power of -L (+ the margin).
        self.target_consumption_w = -site.total_limit_w + self.MARGIN_W
        self.total_upper_w = sum(site.rated_w)

    def step(self, t_s):
        site, fleet = self.site, self.site.fleet
        meter = site.meter
        if meter.seq != self.meter_seq:
            self.meter_seq = meter.seq
            self.meter_t_s = t_s
            self.meter_w = meter.total_w
        for i in range(site.count):
            if self.pending[i]:
                state = fleet.cmd_state[i]
                if state == CMD_ACKED or t_s - self.sent_t_s[i] > self.UPDATE_TIMEOUT_S:
                    self.pending[i] = False
                    self.done_seq[i] = fleet.output_seq[i]
                    self.stats_t_s[i] = None
                elif state == CMD_FAILED and fleet.output_seq[i] != self.resend_seq[i]:
                    self.resend_seq[i] = fleet.output_seq[i]  # NOK: sent again at the next DTU poll
                    site.command(i, self.limit_w[i], t_s)
            # The OLDEST stats after the inverter's last command completed (getLatestStatsMillis).
            if fleet.output_seq[i] > self.done_seq[i] and self.stats_t_s[i] is None:
                self.stats_t_s[i] = t_s
        if any(self.pending):
            return  # InverterCmdPending
        if any(fleet.output_seq[i] <= self.done_seq[i] for i in range(site.count)):
            return  # InverterStatsPending
        valid = self.meter_t_s is not None and t_s - self.meter_t_s < self.METER_VALID_S
        if valid and self.meter_t_s <= max(self.stats_t_s) + self.METER_AFTER_STATS_S:
            return  # PowerMeterPending
        if t_s - self.last_calc_s < self.backoff_s:
            return
        self.last_calc_s = t_s
        outputs = [round(site.reported_w(i)) for i in range(site.count)]
        if valid:
            grid = round(site.grid_w(self.meter_w))
            target = max(0.0, sum(outputs) + grid - self.target_consumption_w)
        else:
            target = self.BASE_LOAD_W
        target = min(target, self.total_upper_w)
        changed = self._distribute(target, outputs, t_s)
        self.backoff_s = self.BACKOFF_MIN_S if changed else min(2 * self.backoff_s, self.BACKOFF_MAX_S)

    def _max_increase(self, i, output):
        rated, limit = self.site.rated_w[i], self.limit_w[i]
        if output >= rated or limit >= rated:
            return 0.0
        if output <= 0:
            return self.LOWER_LIMIT_W
        share = 0.80 if limit <= 0.15 * rated else 0.97
        # Equal MPPTs: all are limit-bound or none is (PV-limited: no raise); the headroom is the
        # rating less the current limit.
        return rated - limit if output >= limit * share else 0.0

    def _distribute(self, target, outputs, t_s):
        diff = target - sum(outputs)
        if diff == 0 or abs(diff) < self.HYSTERESIS_W:
            return False
        changed = False
        n = self.site.count
        if diff < 0:
            need = -diff
            room = [max(0.0, outputs[i] - self.LOWER_LIMIT_W) for i in range(n)]
            for i in sorted(range(n), key=lambda k: -room[k]):
                cut = min(need, room[i])
                if cut <= 0 or cut < self.HYSTERESIS_W:
                    continue
                changed |= self._set(i, max(self.LOWER_LIMIT_W, outputs[i] - cut), t_s)
                need -= cut
        else:
            room = [self._max_increase(i, outputs[i]) for i in range(n)]
            for i in sorted(range(n), key=lambda k: -room[k]):
                rise = min(diff, room[i])
                if rise <= 0 or rise < self.HYSTERESIS_W:
                    continue
                changed |= self._set(i, min(self.site.rated_w[i], outputs[i] + rise), t_s)
                diff -= rise
        return changed

    def _set(self, i, limit_w, t_s):
        limit_w = float(round(limit_w))
        if limit_w == self.limit_w[i]:
            return False
        self.limit_w[i] = limit_w
        self.pending[i] = True
        self.sent_t_s[i] = t_s
        self.resend_seq[i] = self.site.fleet.output_seq[i]
        self.site.command(i, limit_w, t_s)
        return True


class DplTuned(Dpl):
    """The DPL as its maintainers advise tuning it: a 1 s DTU poll, and the same setpoint margin as
    ours (12 W of import aimed at below the export limit); everything else as the default."""

    DTU_POLL_S = 1.0
    MARGIN_W = 12.0


class Ahoy:
    """AhoyDTU zero-export plugin (reference 2): limit += 0.5 * (meter - setpoint).

    The meter is polled every 5 s into a 5-slot ring; the minimum is used. A
    step for an inverter is queued when it reports new data; steps run at most
    once a second, and not for an inverter whose command awaits its ack (60 s
    wait, cleared only by the ack). All inverters form one group on the one
    meter, and each inverter's step applies the full correction, as the
    plugin does (so a group's gain grows with its size).
    """

    PM_REFRESH_S = 5.0
    KP = 0.5
    TOLERANCE_W = 10.0
    POWER_MIN_W = 10.0
    MIN_DIFF_W = 2.0
    WAIT_ACK_S = 60.0

    def __init__(self, site):
        self.site = site
        n = site.count
        self.limit_w = list(site.rated_w)
        self.ring = deque(maxlen=5)
        self.next_poll_s = 0.0
        self.seen_seq = [0] * n
        self.queued = [False] * n
        self.wait_until_s = [None] * n
        self.last_step_s = -1e9
        self.setpoint_w = -site.total_limit_w
        self.floor_w = [max(self.POWER_MIN_W, 0.02 * r) for r in site.rated_w]

    def step(self, t_s):
        site, fleet = self.site, self.site.fleet
        if t_s >= self.next_poll_s:
            self.next_poll_s = t_s + self.PM_REFRESH_S
            grid = site.poll_meter(t_s)
            if grid is not None:  # a failed read leaves the ring as it is
                self.ring.append(grid)
        for i in range(site.count):
            if fleet.output_seq[i] != self.seen_seq[i]:
                self.seen_seq[i] = fleet.output_seq[i]
                self.queued[i] = True
            until = self.wait_until_s[i]
            if until is not None and (fleet.cmd_state[i] == CMD_ACKED or t_s >= until):
                self.wait_until_s[i] = None
        if not self.ring or t_s - self.last_step_s < 1.0:
            return
        for i in range(site.count):
            if self.queued[i] and self.wait_until_s[i] is None:
                self.queued[i] = False
                self.last_step_s = t_s
                self._step_inverter(i, t_s)
                return

    def _step_inverter(self, i, t_s):
        site = self.site
        error = self.setpoint_w - min(self.ring)
        if abs(error) < self.TOLERANCE_W:
            return
        new = self.limit_w[i] - self.KP * error
        if site.reported_w(i) <= 0:
            new = self.POWER_MIN_W
        new = min(max(new, self.floor_w[i]), site.rated_w[i])
        if abs(new - self.limit_w[i]) < self.MIN_DIFF_W:
            return
        self.limit_w[i] = new
        self.wait_until_s[i] = t_s + self.WAIT_ACK_S
        site.command(i, new, t_s)


class _Script:
    """A peer written as a sequential script: `_run` is a generator that yields sleep seconds."""

    def __init__(self, site):
        self.site = site
        self._wake_s = 0.0
        self._script = self._run()
        next(self._script)

    def step(self, t_s):
        if t_s >= self._wake_s - 1e-9:
            self._wake_s = t_s + self._script.send(t_s)

    def _send(self, t_s, limits_w, sent_w, wait_s):
        """Send each changed inverter limit in turn, waiting up to wait_s for its ack; returns the time."""
        fleet = self.site.fleet
        for i, limit_w in enumerate(limits_w):
            if sent_w[i] == limit_w:
                continue
            self.site.command(i, limit_w, t_s)
            sent_w[i] = limit_w
            start = t_s
            while wait_s and fleet.cmd_state[i] != CMD_ACKED and t_s - start < wait_s:
                t_s = yield 0.5
        return t_s


class Hze(_Script):
    """reserve85 HoymilesZeroExport v1.104 defaults (reference 3): a 20 s loop, jump to max on import.

    The three setpoints keep their default spacing and are shifted together so
    the bottom of the tolerance band (target - tolerance, -100 W by default)
    sits on the export limit (`hze`), or are the ini's defaults as they are
    (`hze-literal`: target -75 W, jump on any import). Limits go out as
    absolute watts (the Ahoy path, no integer-% rounding), one inverter after
    the other, each waiting <= 10 s for its ack.
    """

    LOOP_S = 20
    TARGET_W, TOLERANCE_W, MAX_POINT_W = -75.0, 25.0, 0.0
    SLOW_APPROX = 0.20
    MIN_PCT = 5
    ACK_WAIT_S = 10.0
    SHIFTED = True

    def __init__(self, site):
        shift = (self.TARGET_W - self.TOLERANCE_W) + site.total_limit_w if self.SHIFTED else 0.0
        self.target_w = self.TARGET_W - shift
        self.max_point_w = self.MAX_POINT_W - shift
        self.max_w = sum(site.rated_w)
        self.min_each_w = [r * self.MIN_PCT / 100.0 for r in site.rated_w]
        self.sent_w = list(site.rated_w)
        super().__init__(site)

    def _split(self, total_w):
        span = [r - m for r, m in zip(self.site.rated_w, self.min_each_w, strict=True)]
        extra = total_w - sum(self.min_each_w)
        return [round(m + extra * s / sum(span)) for m, s in zip(self.min_each_w, span, strict=True)]

    def _run(self):
        site = self.site
        t_s = yield 0.0
        prev = self.max_w
        while True:
            start, grid, jumped = t_s, None, False
            for _ in range(self.LOOP_S):
                grid = site.poll_meter(t_s)
                if grid is None:
                    break
                if grid > self.max_point_w:
                    prev = self.max_w
                    t_s = yield from self._send(t_s, self._split(prev), self.sent_w, self.ACK_WAIT_S)
                    t_s = yield max(0.0, self.LOOP_S - (t_s - start))
                    jumped = True
                    break
                t_s = yield 1.0
            if grid is None:
                t_s = yield float(self.LOOP_S)  # meter error: sleep and retry, the limits stay
                continue
            if jumped:
                continue
            new = prev
            if grid < self.target_w - self.TOLERANCE_W:
                actual = site.reported_total_w()
                base = actual if prev >= self.max_w else prev
                new = base + grid - self.target_w
                if abs(base - new) > self.SLOW_APPROX * self.max_w:
                    new += self.SLOW_APPROX * abs(base - new)
                if prev >= self.max_w:
                    new = min(new, actual)
            elif grid > self.target_w + self.TOLERANCE_W and prev < self.max_w:
                new = prev + grid - self.target_w
            prev = min(max(new, sum(self.min_each_w)), self.max_w)
            t_s = yield from self._send(t_s, self._split(prev), self.sent_w, self.ACK_WAIT_S)


class HzeLiteral(Hze):
    """HoymilesZeroExport with the ini's default setpoints as they are: aim at 75 W of export,
    jump to 100 % on any import (MAX_POINT 0 W), whatever the export limit."""

    SHIFTED = False


class Simple(_Script):
    """The Selbstbau-PV script (reference 4): every 5 s, limit = grid + allowed export + old limit - 5 W.

    Caps sized to the plant: [sum of inverter minimums, sum of ratings];
    limits split in proportion to the ratings, sent as absolute watts when
    they change, without waiting for acks.
    """

    PERIOD_S = 5.0
    OFFSET_W = 5.0

    def __init__(self, site):
        self.limit_w = sum(site.rated_w)
        self.sent_w = list(site.rated_w)
        super().__init__(site)

    def _run(self):
        site = self.site
        rated_sum = sum(site.rated_w)
        t_s = yield 0.0
        while True:
            grid = site.poll_meter(t_s)
            if grid is not None:
                new = grid + site.total_limit_w + self.limit_w - self.OFFSET_W
                self.limit_w = round(min(max(new, sum(site.min_w)), rated_sum))
                limits = [round(self.limit_w * r / rated_sum) for r in site.rated_w]
                t_s = yield from self._send(t_s, limits, self.sent_w, 0.0)
            t_s = yield self.PERIOD_S


class Ours:
    """Our controller (lib/control/controller.py) through the Fleet and a Reading, every 0.25 s.

    It is given what an installer configures (ratings, inputs, phases, limits, the meter's
    position); every other setting keeps its firmware default, the fail-safe deadline too
    (`failsafe_ms`, 3 s in firmware/cfg_schema.py and in the Controller); it polls each inverter
    as often as the firmware's links do, and learns the rest.
    """

    PERIOD_S = 0.25

    def __init__(self, site, reading):
        from controller import GRID, LOAD, Controller

        phases = site.phase_export_limit_w
        self.reading = reading
        for link in site.links:
            link.poll_period_s = firmware_poll_period_ms(link) / 1000
        self.controller = Controller(
            site.fleet,
            export_limit_w=int(site.export_limit_w),
            phase_export_limit_w=None if phases is None else [-1 if w is None else int(w) for w in phases],
            meter_position=LOAD if site.position == "load" else GRID,
            phases=site.phases,
        )
        self._next_s = 0.0

    def step(self, t_s):
        if t_s >= self._next_s - 1e-9:
            self._next_s += self.PERIOD_S
            self.controller.step(ticks(t_s), self.reading)


def firmware_poll_period_ms(link):
    """The poll period firmware/hm_radio.py gives a link: on an nRF24 hm_air.nrf_poll_period_ms of its
    inverters; on a CMT2300A hm_link's default, which the link's airtime account then paces."""
    return nrf_poll_period_ms(len(link.rows)) if link.radio == "nrf24" else POLL_PERIOD_MS


PEERS = {"dpl": Dpl, "dpl-tuned": DplTuned, "ahoy": Ahoy, "hze": Hze, "hze-literal": HzeLiteral, "simple": Simple}
