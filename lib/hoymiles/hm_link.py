"""The inverter link for Hoymiles HM, HMS and HMT inverters: Fleet targets in, acks and AC power out.

`step(now_ms)` is called every firmware tick and never blocks. It runs one radio transaction at a time (the
radio is half-duplex) as a small state machine: send a request, wait for the radio's auto-ack, collect the
answer until its window closes, then resend or re-request missing fragments, and finally report to the Fleet.
What it sends, in order of priority:

1. The newest queued target of an inverter (`fleet.next_queued()`, the highest `fleet.rank` first; targets that
   lower a limit before all else, others after overdue polls): an ActivePowerControl limit in absolute deci-watts,
   **non-persistent**, so the inverter's flash is never written by the control loop. A target of 0 is a
   PowerControl "off"; the next target > 0 first switches it on again. `fleet.sent` when it leaves, `fleet.acked`
   on the inverter's D1 answer, `fleet.failed` once the resends are used up.
2. A persistent limit, only through `configure_persistent_limit`, once per `PERSIST_MIN_INTERVAL_MS` at most (wear).
3. DevInfoSimple once per inverter, for the rated power.
4. RealTimeRunData every `poll_period_ms` per inverter (first, if a poll is two periods late), reported with
   `fleet.report_output`. After `_UNREACHABLE_AFTER` failed polls in a row (night: no DC, no radio) an inverter is
   polled `BACKOFF` times less often until it answers again.

HMS and HMT (a link built with a `band`, on the CMT2300A): before the first request, and before each poll while
an inverter is unreachable, the link sends ChannelChange on the band's boot frequency (no answer comes) and then
works on the configured one. Answers not addressed to our DTU (bytes 5-8) are dropped. Every frame is counted in
`airtime` (hm_band); polls and DevInfo wait for it, commands that raise a limit wait once the hour's budget is
spent, and commands that lower a limit (or switch off) go first and never wait.

Requests with a time field (3, 4) wait until `clock()` knows the time (UTC s since 2000-01-01, from the RTC that
NTP sets), a negative number while it is unknown.

Timing: a limit round trip takes about 0.1-0.3 s on the air, a poll 0.2-0.5 s (at 20 kbps an HMT answer's 7
fragments take 0.3 s). While a transaction is open, call `step` at least every 4 ms (`busy`); idle, any rate.
Allocation: none in `step` after `__init__` and `add` (few locals: frames on the C stack).
"""

from compat import build, const, ticks_add, ticks_diff
from hm_air import SEND_FAILED, SEND_PENDING
from hm_answers import dev_control_result, parse_real_time, rated_w_of_dev_info
from hm_commands import (
    CTRL_OFF,
    CTRL_ON,
    DT_DEV_INFO_SIMPLE,
    DT_REAL_TIME,
    LIMIT_ABSOLUTE,
    LIMIT_ABSOLUTE_PERSISTENT,
    build_channel_change,
    build_limit,
    build_multi,
    build_power,
    build_request_frame,
    limit_type_code,
)
from hm_frames import (
    MID_ANSWER,
    MID_DEV_CONTROL,
    MID_MULTI_DATA,
    OK,
    check,
    from_address,
    to_address,
)

POLL_PERIOD_MS = const(5000)
_ACK_WINDOW_MS = const(600)
_ANSWER_WINDOW_MS = const(500)
_REREQUEST_WINDOW_MS = const(200)
MAX_SENDS = const(5)  # the request and 4 resends, as OpenDTU
_MAX_REREQUESTS = const(5)
_DEV_INFO_TRIES = const(3)
_UNREACHABLE_AFTER = const(3)
BACKOFF = const(6)
PERSIST_MIN_INTERVAL_MS = const(86400000)  # one persistent write per inverter and day
# A target equal to the limit the inverter acknowledged less than this ago is
# acknowledged without sending it again; a repeat after longer goes out (the
# inverter forgets non-persistent limits when it restarts).
SAME_LIMIT_REFRESH_MS = const(30000)

ERR_TOO_SOON = const(-20)
ERR_NOT_MINE = const(-21)

# Jobs
_JOB_NONE = const(0)
_JOB_LIMIT = const(1)
_JOB_ON = const(2)
_JOB_OFF = const(3)
_JOB_PERSIST = const(4)
_JOB_DEV_INFO = const(5)
_JOB_POLL = const(6)
_JOB_CHANNEL = const(7)
# States
IDLE = const(0)
_SENDING = const(1)
_WAITING = const(2)


class HoymilesLink:
    def __init__(self, *args, **options):
        build("hm_link_init", "hm_link", self, args, options)  # boot only: hm_link_init.py

    def add(self, row, serial):
        """Drive Fleet row `row` as the inverter with this 6-byte serial; returns its slot (hm_link_init.py: boot and
        a new inverter list only)."""
        return build("hm_link_init", "add", self, (row, serial), {})

    def busy(self):
        """True while a transaction is open: call `step` at least every 4 ms then."""
        return self.state != IDLE

    def configure_persistent_limit(self, row, limit_dw, now_ms):
        """Queue a limit the inverter keeps over night and restarts (a flash write).

        Rate-limited to one per inverter and PERSIST_MIN_INTERVAL_MS; returns OK,
        ERR_TOO_SOON or ERR_NOT_MINE. Meant for commissioning, never for control.
        """
        slot = self.slot_of_row[row] if row < len(self.slot_of_row) else 0xFF
        if slot == 0xFF:
            return ERR_NOT_MINE
        if self.persist_done[slot] and ticks_diff(now_ms, self.persist_t_ms[slot]) < PERSIST_MIN_INTERVAL_MS:
            return ERR_TOO_SOON
        self.persist_dw[slot] = limit_dw
        self.persist_pending[slot] = 1
        self.persist_done[slot] = 1
        self.persist_t_ms[slot] = now_ms
        return OK

    # --- the tick ------------------------------------------------------------------

    def step(self, now_ms):
        if self.state == IDLE:
            self._pick(now_ms)
        elif self.state == _SENDING:
            self._sending(now_ms)
        else:
            self._waiting(now_ms)

    def _pick(self, now_ms):
        self._expire_persist(now_ms)
        if self._pick_handover(now_ms) or self._pick_command(now_ms, True) or self._poll_overdue(now_ms):
            return
        if self._pick_command(now_ms, False) or self._pick_config(now_ms):
            return
        self._pick_poll(now_ms)

    def _may(self, now_ms, poll):
        """Whether the airtime budget lets a poll (or a command that raises a limit) start now."""
        airtime = self.airtime
        if airtime is None:
            return True
        return airtime.may_poll(now_ms) if poll else airtime.may_command(now_ms)

    def _pick_handover(self, now_ms):
        for slot in range(self.count):
            if self.handover[slot] and self._may(now_ms, False):
                self.handover[slot] = 0
                self.slot = slot
                self._begin(_JOB_CHANNEL, now_ms)
                return True
        return False

    def _lowers(self, row):
        target_dw = self.fleet.target_dw[row]
        last_dw = self.limit_dw[self.slot_of_row[row]]
        return target_dw < last_dw or last_dw < 0 or target_dw == 0

    def _pick_command(self, now_ms, lowering):
        fleet = self.fleet
        row = fleet.next_queued()
        best = -1  # of the highest fleet.rank (the controller's order), then the lowest index
        while row >= 0:
            if self.slot_of_row[row] != 0xFF and self._lowers(row) == lowering and (
                    best < 0 or fleet.rank[row] > fleet.rank[best]):
                best = row
            row = fleet.next_queued(row + 1)
        row = best
        if row < 0 or not (lowering or self._may(now_ms, False)):
            return False
        self.slot = self.slot_of_row[row]
        target_dw = self.fleet.target_dw[row]
        self.target_dw = target_dw
        self.fleet.sent(row, now_ms)
        if self._has_limit(target_dw, now_ms):
            self.fleet.acked(row, now_ms)  # spare the air and the inverter
        elif target_dw == 0:
            self._begin(_JOB_OFF, now_ms)
        elif self.switched_off[self.slot]:
            self._begin(_JOB_ON, now_ms)
        else:
            self._begin(_JOB_LIMIT, now_ms)
        return True

    def _expire_persist(self, now_ms):
        # Forget a persistent write once its interval is over, long before ticks_diff
        # (valid for 2**29 ms, 6.2 days) could wrap and make an old one look recent.
        for slot in range(self.count):
            if self.persist_done[slot] and ticks_diff(now_ms, self.persist_t_ms[slot]) >= PERSIST_MIN_INTERVAL_MS:
                self.persist_done[slot] = 0

    def _has_limit(self, target_dw, now_ms):
        slot = self.slot
        return target_dw == self.limit_dw[slot] and ticks_diff(now_ms, self.limit_t_ms[slot]) < SAME_LIMIT_REFRESH_MS

    def _poll_overdue(self, now_ms):
        if self.clock() < 0 or not self._may(now_ms, True):
            return False
        for k in range(self.count):  # round robin, so that a paced link serves every inverter
            slot = (self.next_poll_slot + k) % self.count
            if self.polled[slot] and ticks_diff(now_ms, self.poll_t_ms[slot]) >= 2 * self._period(slot):
                self.next_poll_slot = (slot + 1) % self.count
                self.slot = slot
                self._begin(_JOB_POLL, now_ms)
                return True
        return False

    def _period(self, slot):
        if self.poll_failures[slot] >= _UNREACHABLE_AFTER:
            return BACKOFF * self.poll_period_ms
        return self.poll_period_ms

    def reachable(self, slot):
        """False after _UNREACHABLE_AFTER failed polls in a row (e.g. at night)."""
        return self.poll_failures[slot] < _UNREACHABLE_AFTER

    def _pick_config(self, now_ms):
        for slot in range(self.count):
            if self.persist_pending[slot]:
                self.persist_pending[slot] = 0
                self.slot = slot
                self._begin(_JOB_PERSIST, now_ms)
                return True
        if self.clock() < 0 or not self._may(now_ms, True):
            return False
        for slot in range(self.count):
            if not self.rated_w[slot] and self.dev_info_tries[slot] < _DEV_INFO_TRIES:
                self.dev_info_tries[slot] += 1
                self.slot = slot
                self._begin(_JOB_DEV_INFO, now_ms)
                return True
        return False

    def _pick_poll(self, now_ms):
        if self.clock() < 0 or not self.count or not self._may(now_ms, True):
            return
        for _ in range(self.count):
            slot = self.next_poll_slot
            self.next_poll_slot = (slot + 1) % self.count
            if not self.polled[slot] or ticks_diff(now_ms, self.poll_t_ms[slot]) >= self._period(slot):
                self.slot = slot
                self._begin(_JOB_POLL, now_ms)
                return

    # --- one transaction -------------------------------------------------------------

    def _begin(self, job, now_ms):
        self.job = job
        self.sends = 0
        self.rerequests = 0
        if job == _JOB_POLL:
            self.polled[self.slot] = 1
            self.poll_t_ms[self.slot] = now_ms
        self._build()
        self._send()

    def _build(self):
        slot = self.slot
        job = self.job
        if job == _JOB_LIMIT:
            code = limit_type_code(LIMIT_ABSOLUTE, self.hms[slot])
            self._tx_len = build_limit(self._tx, self.frame_addr[slot], self.dtu, self.target_dw, code)
        elif job == _JOB_PERSIST:
            code = limit_type_code(LIMIT_ABSOLUTE_PERSISTENT, self.hms[slot])
            self._tx_len = build_limit(self._tx, self.frame_addr[slot], self.dtu, self.persist_dw[slot], code)
        elif job == _JOB_ON or job == _JOB_OFF:
            self._tx_len = build_power(
                self._tx, self.frame_addr[slot], self.dtu, CTRL_ON if job == _JOB_ON else CTRL_OFF
            )
        elif job == _JOB_CHANNEL:
            self._build_channel()
        else:
            self._build_multi(DT_REAL_TIME if job == _JOB_POLL else DT_DEV_INFO_SIMPLE)

    def _build_channel(self):
        band = self.band
        self._tx_len = build_channel_change(self._tx, self.frame_addr[self.slot], self.dtu, band.code, band.channel)

    def _build_multi(self, data_type):
        self._tx_len = build_multi(self._tx, self.frame_addr[self.slot], self.dtu, data_type, self.clock())

    def _send(self):
        self.sends += 1
        self._fragments.reset()
        if self.job == _JOB_CHANNEL:
            self.radio.set_channel(self.band.boot_channel)
        self._transmit()

    def _transmit(self):
        if self.airtime is not None:
            self.airtime.spend(self._tx_len, self.job >= _JOB_DEV_INFO)
        self.radio.send_start(self.radio_addr[self.slot], self._tx, self._tx_len)
        self.state = _SENDING

    def _sending(self, now_ms):
        result = self.radio.send_done()
        if result == SEND_PENDING:
            return
        if result == SEND_FAILED:
            self._retry(now_ms)
            return
        if self.job == _JOB_CHANNEL:  # no answer comes
            self._finish(True, now_ms)
            return
        self.state = _WAITING
        self.deadline_ms = ticks_add(now_ms, self._window())

    def _window(self):
        if self.rerequests:
            return _REREQUEST_WINDOW_MS
        return _ANSWER_WINDOW_MS if self.job >= _JOB_DEV_INFO else _ACK_WINDOW_MS

    def _retry(self, now_ms):
        """Send the whole request again, or give up."""
        if self.sends >= MAX_SENDS:
            self._finish(False, now_ms)
            return
        self.rerequests = 0
        self._build()
        self._send()

    def _waiting(self, now_ms):
        for _ in range(4):
            length = self.radio.recv_into(self._rx, now_ms)
            if not length:
                break
            if self._accept(length, now_ms):
                return
        if ticks_diff(now_ms, self.deadline_ms) >= 0:
            self._timed_out(now_ms)

    def _accept(self, length, now_ms):
        """Handle one received frame; True once the transaction is finished."""
        rx = self._rx
        if check(rx, length) != OK or not from_address(rx, self.frame_addr[self.slot]):
            return False
        if self.band is not None and not to_address(rx, self.dtu):
            self.foreign += 1
            return False
        if self.job < _JOB_DEV_INFO:
            if rx[0] != MID_DEV_CONTROL | MID_ANSWER:
                return False
            self.result = dev_control_result(rx, length)
            self._finish(self.result == OK, now_ms)
            return True
        if rx[0] != MID_MULTI_DATA | MID_ANSWER:
            return False
        self._fragments.add(rx, length)
        if self._fragments.missing():
            return False
        return self._complete(now_ms)

    def _complete(self, now_ms):
        length = self._fragments.assemble(self._payload)
        slot = self.slot
        if length < 0:
            self.result = length
        elif self.job == _JOB_DEV_INFO:
            self.rated_w[slot] = rated_w_of_dev_info(self._payload, length)
            self.result = OK
        else:
            self.result = parse_real_time(self._payload, length, self.family[slot], self.data)
        if self.result != OK:
            # A bad CRC16, or a short payload: a truncated answer or a late one to an
            # earlier request. Ask again from the start.
            self._retry(now_ms)
            return True
        if self.job == _JOB_POLL:
            self.fleet.report_output(self.row[slot], self.data.ac_power_dw, now_ms)
        self._finish(True, now_ms)
        return True

    def _timed_out(self, now_ms):
        fragments = self._fragments
        if self.job < _JOB_DEV_INFO or not fragments.count:
            self._retry(now_ms)
        elif self.rerequests < _MAX_REREQUESTS:
            self.rerequests += 1
            self._tx_len = build_request_frame(self._tx, self.frame_addr[self.slot], self.dtu, fragments.missing())
            self._transmit()
        else:
            self._finish(False, now_ms)

    def _finish(self, ok, now_ms):
        self.state = IDLE
        job = self.job
        slot = self.slot
        if job == _JOB_ON and ok:
            self.switched_off[slot] = 0
            self._begin(_JOB_LIMIT, now_ms)  # the target that asked for "on"
            return
        if job == _JOB_POLL:
            self.poll_failures[slot] = 0 if ok else self.poll_failures[slot] + 1
        if self.band is not None:
            self._finish_cmt(ok, job, slot)
        if job >= _JOB_POLL:
            return
        if job == _JOB_OFF and ok:
            self.switched_off[slot] = 1
        # Off is remembered as limit 0, so a repeated 0 is not sent again either.
        self.limit_dw[slot] = self.target_dw if ok and job <= _JOB_OFF else -1
        self.limit_t_ms[slot] = now_ms
        if job <= _JOB_OFF:
            self._report(ok, now_ms)

    def _finish_cmt(self, ok, job, slot):
        if job == _JOB_CHANNEL:
            self.radio.set_channel(self.band.channel)  # back to work, sent or not
        elif not ok and (job != _JOB_POLL or not self.reachable(slot)):
            self.handover[slot] = 1  # it may be back on its boot frequency

    def _report(self, ok, now_ms):
        if ok:
            self.fleet.acked(self.row[self.slot], now_ms)
        else:
            self.fleet.failed(self.row[self.slot], now_ms)
