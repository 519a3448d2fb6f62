"""Inverter link through an OpenDTU or AhoyDTU the user already runs, over MQTT.

    session = Session(MQTTClient("gateway-1", "192.168.1.10", keepalive=60))
    bridge = DtuBridge(session, fleet, OPENDTU, "solar", ["114190641177", "116180216734"])
    # main loop, outside the control tick:
    session.poll(now_ms); bridge.poll(now_ms)

The controller's queued limits (`fleet.next_queued()`) go out as non-persistent
absolute limits in whole watts (rounded down: a cap never rises by rounding):

| | OpenDTU | AhoyDTU |
|---|---|---|
| limit | `<prefix>/<serial>/cmd/limit_nonpersistent_absolute` `600` | `<prefix>/ctrl/limit/<id>` `600W` |
| ack | `<prefix>/<serial>/status/limit_absolute` `600.00` | `<prefix>/<name>/ack_pwr_limit` `true` or `600.0` |
| AC power | `<prefix>/<serial>/0/power` `512.3` | `<prefix>/<name>/ch0/P_AC` `512.300` |
| reachable | `<prefix>/<serial>/status/reachable` `0`/`1` | `<prefix>/<name>/available` `0`..`4` |

The DTU's echo of the new limit is the acknowledgement (`fleet.acked`); an
echo of another value (the DTU republishes the old limit until the inverter
confirmed the new one) changes nothing, and no matching echo within
`ack_timeout_ms` means `fleet.failed`, as does the inverter becoming
unreachable meanwhile. AC power reports go to `fleet.report_output`.

Retained messages (the broker's stored copy, sent when we subscribe) may be
hours old: they never acknowledge a command or report output; only the
reachability state is taken from them. Payloads that are not a plain decimal
number (`nan`, `1e3`, JSON, empty) or lie out of range (power below 0 or above
`max_output_pct` % of the rating, a limit echo below 0 or above 65535 W) are
counted in `malformed` and change nothing.

Device notes: runs outside the control tick, like telemetry, and never
waits on the broker: the subscriptions go out as one SUBSCRIBE at connect,
streamed through the client's send buffer, and the SUBACK is checked when it
arrives. Topics are built once in __init__; each command allocates its
payload text and the packet header (a few dozen bytes), each received
message the client's topic and payload bytes. Parsing a payload allocates nothing further and uses integers
only: powers in deci-watts, at most 7 integer digits, within ±2**30.
"""

from compat import const, ticks_diff
from fleet import CMD_SENT

OPENDTU = const(0)
AHOYDTU = const(1)

NOT_A_NUMBER = const(-0x3FFFFFFF)  # parse_dw's answer to a malformed payload (no parse gives it)
_MAX_DIGITS = const(7)  # integer digits accepted: 9 999 999 W, far below 2**30 dW
_MAX_ECHO_DW = const(655350)  # Hoymiles limits are 16-bit watts

_SUFFIXES = (
    # limit command topic, ack topic, AC power topic, reachability topic (after the prefix)
    (
        "/{id}/cmd/limit_nonpersistent_absolute",
        "/{id}/status/limit_absolute",
        "/{id}/0/power",
        "/{id}/status/reachable",
    ),
    ("/ctrl/limit/{id}", "/{name}/ack_pwr_limit", "/{name}/ch0/P_AC", "/{name}/available"),
)


def parse_dw(payload):
    """A decimal payload such as b"512.35" in deci-watts (rounded half away from 0), else NOT_A_NUMBER."""
    length = len(payload)
    index = 0
    negative = length > 0 and payload[0] == 45  # "-"
    if negative:
        index = 1
    value = 0
    digits = 0
    while index < length and 48 <= payload[index] <= 57:
        value = value * 10 + payload[index] - 48
        digits += 1
        index += 1
    if digits == 0 or digits > _MAX_DIGITS:
        return NOT_A_NUMBER
    value *= 10
    if index < length:
        if payload[index] != 46 or index + 1 == length:  # "."
            return NOT_A_NUMBER
        index += 1
        place = 0
        while index < length:
            digit = payload[index] - 48
            if not 0 <= digit <= 9:
                return NOT_A_NUMBER
            if place == 0:
                value += digit
            elif place == 1 and digit >= 5:
                value += 1
            place += 1
            index += 1
    return -value if negative else value


class DtuBridge:
    """Sends the Fleet's queued limits to a DTU over MQTT and feeds back its acks and AC power.

    ids: per Fleet row, the inverter's serial (OpenDTU) or its number in the
      AhoyDTU setup (0, 1, ...), or None for a row another link serves (a
      SunSpec inverter on the gateway's bus): the bridge never sends it a
      limit, never times out a command another link sent, and its
      `reachable` entry stays 1; names: per row, the inverter name set in
      AhoyDTU (its status topics carry the name; unused for OpenDTU);
      prefix: the DTU's MQTT base topic (OpenDTU: its "Base topic" without the
      trailing slash; AhoyDTU: "Topic", default "inverter").
    """

    def __init__(self, session, fleet, dtu, prefix, ids, names=None, ack_timeout_ms=10000, max_output_pct=125):
        if dtu not in (OPENDTU, AHOYDTU):
            raise ValueError("dtu must be OPENDTU or AHOYDTU")
        if len(ids) != fleet.count or (dtu == AHOYDTU and (names is None or len(names) != fleet.count)):
            raise ValueError("one id (and for AhoyDTU one name) per inverter of the fleet")
        self.session = session
        self.fleet = fleet
        self.dtu = dtu
        self.ack_timeout_ms = ack_timeout_ms
        self.count = fleet.count
        self.max_output_dw = [fleet.rated_dw[i] * max_output_pct // 100 for i in range(fleet.count)]
        self.limit_topics = []
        self.ack_topics = []
        self.power_topics = []
        self.reachable_topics = []
        prefix = prefix.rstrip("/")
        for index in range(self.count):
            name = names[index] if names is not None else ""
            topics = [None] * 4
            if ids[index] is not None:
                topics = [(prefix + suffix.format(id=ids[index], name=name)).encode() for suffix in _SUFFIXES[dtu]]
            self.limit_topics.append(topics[0])
            self.ack_topics.append(topics[1])
            self.power_topics.append(topics[2])
            self.reachable_topics.append(topics[3])
        self.sent_dw = [0] * self.count  # the limit last sent, in whole watts x 10
        self.sent_ms = [0] * self.count
        self.reachable = bytearray(b"\x01" * self.count)  # until the DTU says otherwise
        # Counters for telemetry and tests.
        self.commands = 0
        self.acks = 0
        self.timeouts = 0
        self.reports = 0
        self.malformed = 0
        self.stale = 0  # retained acks and power reports ignored
        session.on_connect(self._subscribe)
        session.client.set_callback(self._on_message)

    def poll(self, now_ms):
        """After session.poll(): fail commands not acknowledged in time, send the queued ones."""
        fleet = self.fleet
        topics = self.limit_topics
        for index in range(self.count):
            if (topics[index] is not None and fleet.cmd_state[index] == CMD_SENT
                    and ticks_diff(now_ms, self.sent_ms[index]) >= self.ack_timeout_ms):
                fleet.failed(index, now_ms)
                self.timeouts += 1
        index = fleet.next_queued()
        while index >= 0 and self.session.connected:
            if topics[index] is None:  # another link's row
                index = fleet.next_queued(index + 1)
                continue
            watts = fleet.target_dw[index] // 10
            payload = ("%dW" if self.dtu == AHOYDTU else "%d") % watts
            if not self.session.publish(self.limit_topics[index], payload):
                return  # disconnected or the send buffer busy: the command stays queued
            fleet.sent(index, now_ms)
            self.sent_dw[index] = watts * 10
            self.sent_ms[index] = now_ms
            self.commands += 1
            index = fleet.next_queued(index + 1)

    def _subscribe(self):
        topics = []
        for index in range(self.count):
            if self.ack_topics[index] is not None:
                topics += (self.ack_topics[index], self.power_topics[index], self.reachable_topics[index])
        self.session.client.queue_subscribe(topics)

    def _on_message(self, topic, msg):
        for index in range(self.count):
            if topic == self.power_topics[index]:
                self._on_power(index, msg)
            elif topic == self.ack_topics[index]:
                self._on_ack(index, msg)
            elif topic == self.reachable_topics[index]:
                self._on_reachable(index, msg)

    def _on_power(self, index, msg):
        value = parse_dw(msg)
        if not 0 <= value <= self.max_output_dw[index]:
            self.malformed += 1
        elif self.session.client.retained:
            self.stale += 1
        else:
            self.fleet.report_output(index, value, self.session.now_ms)
            self.reports += 1

    def _on_ack(self, index, msg):
        matches = self.dtu == AHOYDTU and msg == b"true"
        if not matches:
            value = parse_dw(msg)
            if not 0 <= value <= _MAX_ECHO_DW:
                self.malformed += 1
                return
            # Hoymiles keep the limit in 0.1 % steps of the rating: the echo may be off by that.
            matches = abs(value - self.sent_dw[index]) <= self.fleet.rated_dw[index] // 1000 + 10
        if self.session.client.retained:
            self.stale += 1
        elif matches and self.fleet.cmd_state[index] == CMD_SENT:
            self.fleet.acked(index, self.session.now_ms)
            self.acks += 1

    def _on_reachable(self, index, msg):
        if len(msg) != 1 or not 48 <= msg[0] <= (52 if self.dtu == AHOYDTU else 49):
            self.malformed += 1
            return
        state = msg[0] - 48
        # AhoyDTU: 1..3 available (not) producing; 0 off, 4 "was available".
        reachable = 1 if (state == 1 if self.dtu == OPENDTU else 1 <= state <= 3) else 0
        self.reachable[index] = reachable
        if not reachable and self.fleet.cmd_state[index] == CMD_SENT:
            self.fleet.failed(index, self.session.now_ms)
            self.timeouts += 1
