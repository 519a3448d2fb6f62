"""A small MQTT 3.1.1 client with micropython-lib's `umqtt.simple` API.

    client = MQTTClient("gateway-1", "192.168.1.10", keepalive=60)
    client.set_callback(on_message)          # on_message(topic: bytes, msg: bytes)
    client.set_last_will("em/status", "offline", retain=True)
    client.connect()
    client.subscribe("solar/+/status/limit_absolute")
    client.publish("em/state", "{...}", retain=False)
    client.check_msg()                        # never blocks: call it from the main loop

Only `socket` and `select` are used, so the same file runs on the ESP32, the
unix port and CPython. Beyond `umqtt.simple`: `check_msg()` never blocks (it
reads what has arrived and keeps a partial packet for the next call, where
umqtt.simple blocks until the rest of a started packet is in), `retained` says
whether the message being delivered to the callback was a retained one (the
broker's copy sent on subscribing, not a live message), and `pings_unanswered`
lets the caller notice a dead broker.

Errors are values the caller can act on: every protocol problem raises
`MQTTException(code, text)` with a code below (codes 1..5 are the broker's
CONNACK refusals) after closing the socket, so the client is cleanly
disconnected and `connect()` starts over; socket failures raise `OSError` the
same way. A malformed packet from the broker (bad remaining length, a packet
type a server must not send, a topic longer than the packet, QoS 3, a packet
larger than `max_packet`) is such an error: MQTT gives a client no way to skip
a bad packet and stay in step, so it must close the connection.

Device notes: this is not hot-path code; it allocates a few small bytes
objects per packet. connect(), subscribe() and QoS 1 publish() wait for the
broker's answer for at most `timeout_ms`; publish() and ping() block only
while the socket's send buffer is full (at most `timeout_ms`); check_msg()
returns at once. Run it outside the control tick. No TLS.
"""

import select
import socket

from compat import const, ticks_diff, ticks_ms

# Packet types (MQTT 3.1.1 section 2.2.1), as the high nibble of the first byte.
CONNECT = const(0x10)
CONNACK = const(0x20)
PUBLISH = const(0x30)
PUBACK = const(0x40)
SUBSCRIBE = const(0x80)
SUBACK = const(0x90)
PINGREQ = const(0xC0)
PINGRESP = const(0xD0)
DISCONNECT = const(0xE0)

# MQTTException codes: 1..5 are CONNACK return codes, the rest are ours.
REFUSED_PROTOCOL = const(1)
REFUSED_IDENTIFIER = const(2)
REFUSED_UNAVAILABLE = const(3)
REFUSED_CREDENTIALS = const(4)
REFUSED_NOT_AUTHORIZED = const(5)
MALFORMED = const(101)  # the broker sent bytes that are not a valid MQTT packet
UNEXPECTED = const(102)  # a valid packet a server must not send now
TOO_LARGE = const(103)  # a packet larger than max_packet
CLOSED = const(104)  # the broker closed the connection
TIMEOUT = const(105)  # no answer within timeout_ms
SUBSCRIBE_REFUSED = const(106)  # SUBACK return code 0x80
NOT_CONNECTED = const(107)

_RECV_BYTES = const(512)
_RECV_ROUNDS = const(4)  # check_msg reads at most this many chunks: bounded work per call
_PROTOCOL_LEVEL = const(4)  # 3.1.1


class MQTTException(Exception):
    """args[0] is one of the codes above, args[1] says what happened."""

    @property
    def code(self):
        return self.args[0]


def _bytes(value):
    return value.encode() if isinstance(value, str) else bytes(value)


def _length(count):
    """The remaining-length field: 7 bits per byte, least significant first."""
    out = bytearray()
    while True:
        byte = count & 0x7F
        count >>= 7
        out.append(byte | 0x80 if count else byte)
        if not count:
            return out


def _field(data):
    return bytes((len(data) >> 8, len(data) & 0xFF)) + data


def _check_topic(topic):
    if not 0 < len(topic) < 0x10000 or b"+" in topic or b"#" in topic:
        raise ValueError("a topic to publish to is 1..65535 bytes without wildcards")


class MQTTClient:
    def __init__(
        self,
        client_id,
        server,
        port=0,
        user=None,
        password=None,
        keepalive=0,
        timeout_ms=5000,
        max_packet=4096,
    ):
        if keepalive < 0 or keepalive > 0xFFFF:
            raise ValueError("keepalive is 0..65535 s")
        self.client_id = _bytes(client_id)
        self.server = server
        self.port = port or 1883
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.timeout_ms = timeout_ms
        self.max_packet = max_packet
        self.cb = None
        self.sock = None
        self.lw_topic = None
        self.lw_msg = b""
        self.lw_qos = 0
        self.lw_retain = False
        self.retained = False  # of the message being delivered to the callback
        self.pings_unanswered = 0
        self.sent_ms = 0  # when the last packet went out: keepalive pings are due from it
        self._pid = 0
        self._rx = bytearray()
        self._poller = None

    # -- umqtt.simple API -----------------------------------------------------------------------

    def set_callback(self, f):
        self.cb = f

    def set_last_will(self, topic, msg, retain=False, qos=0):
        topic = _bytes(topic)
        _check_topic(topic)
        if not 0 <= qos <= 1:
            raise ValueError("QoS 0 or 1")
        self.lw_topic = topic
        self.lw_msg = _bytes(msg)
        self.lw_qos = qos
        self.lw_retain = retain

    def connect(self, clean_session=True):
        """Open the connection; returns the broker's session-present flag."""
        self.close()
        info = socket.getaddrinfo(self.server, self.port, 0, socket.SOCK_STREAM)
        family, kind, proto, _, address = info[0]
        for entry in info:
            if entry[0] == socket.AF_INET:
                family, kind, proto, _, address = entry
                break
        sock = socket.socket(family, kind, proto)
        self.sock = sock
        try:
            sock.settimeout(self.timeout_ms / 1000)
            sock.connect(address)
            self._poller = select.poll()
            self._poller.register(sock, select.POLLIN)
            self._rx = bytearray()
            self.pings_unanswered = 0
            self._send(self._connect_packet(clean_session))
            body = self._wait_for(CONNACK, -1)
        except Exception:
            self.close()
            raise
        if body[1]:
            self.close()
            raise MQTTException(body[1], "connection refused by the broker")
        return body[0] & 1

    def disconnect(self):
        if self.sock is not None:
            try:
                self._send(b"\xe0\x00")
            except OSError:
                pass
        self.close()

    def ping(self):
        self._send(b"\xc0\x00")
        self.pings_unanswered += 1

    def publish(self, topic, msg, retain=False, qos=0):
        topic = _bytes(topic)
        msg = _bytes(msg)
        _check_topic(topic)
        if not 0 <= qos <= 1:
            raise ValueError("QoS 0 or 1")
        body = _field(topic)
        if qos:
            pid = self._next_pid()
            body += bytes((pid >> 8, pid & 0xFF))
        self._send(bytes((PUBLISH | qos << 1 | (1 if retain else 0),)) + _length(len(body) + len(msg)) + body + msg)
        if qos:
            self._wait_for(PUBACK, pid)

    def subscribe(self, topic, qos=0):
        topic = _bytes(topic)
        if not 0 < len(topic) < 0x10000 or not 0 <= qos <= 1:
            raise ValueError("a topic filter of 1..65535 bytes, QoS 0 or 1")
        pid = self._next_pid()
        body = bytes((pid >> 8, pid & 0xFF)) + _field(topic) + bytes((qos,))
        self._send(bytes((SUBSCRIBE | 2,)) + _length(len(body)) + body)
        body = self._wait_for(SUBACK, pid)
        if body[2] == 0x80:
            self._fail(SUBSCRIBE_REFUSED, "subscription refused: " + topic.decode())

    def check_msg(self):
        """Handle whatever has arrived (messages go to the callback); never blocks."""
        self._require()
        for _ in range(_RECV_ROUNDS):
            if not self._receive(0):
                break
        while self._take(-1, -1) is not None:
            pass

    def wait_msg(self, timeout_ms=-1):
        """Block until one packet is handled (or timeout_ms passes); returns its type or None."""
        self._require()
        start = ticks_ms()
        while True:
            packet_type = self._take_any()
            if packet_type is not None:
                return packet_type
            left = -1 if timeout_ms < 0 else max(0, timeout_ms - ticks_diff(ticks_ms(), start))
            if not self._receive(left) and timeout_ms >= 0 and left == 0:
                return None

    # -- beyond umqtt.simple -------------------------------------------------------------------

    @property
    def connected(self):
        return self.sock is not None

    def close(self):
        """Drop the connection without a DISCONNECT packet (the last will is then sent)."""
        sock = self.sock
        self.sock = None
        self._poller = None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    # -- internals ------------------------------------------------------------------------------

    def _connect_packet(self, clean_session):
        flags = 0x02 if clean_session else 0
        payload = _field(self.client_id)
        if self.lw_topic:
            flags |= 0x04 | self.lw_qos << 3 | (0x20 if self.lw_retain else 0)
            payload += _field(self.lw_topic) + _field(self.lw_msg)
        if self.user is not None:
            flags |= 0x80
            payload += _field(_bytes(self.user))
            if self.password is not None:
                flags |= 0x40
                payload += _field(_bytes(self.password))
        header = b"\x00\x04MQTT" + bytes((_PROTOCOL_LEVEL, flags, self.keepalive >> 8, self.keepalive & 0xFF))
        return bytes((CONNECT,)) + _length(len(header) + len(payload)) + header + payload

    def _next_pid(self):
        self._pid = self._pid % 0xFFFF + 1
        return self._pid

    def _require(self):
        if self.sock is None:
            raise MQTTException(NOT_CONNECTED, "not connected")

    def _fail(self, code, text):
        self.close()
        raise MQTTException(code, text)

    def _send(self, packet):
        self._require()
        try:
            self.sock.sendall(packet)
        except OSError:
            self.close()
            raise
        self.sent_ms = ticks_ms()

    def _receive(self, timeout_ms):
        """Read what has arrived, waiting up to timeout_ms (-1: forever); False if nothing."""
        if not self._poller.poll(timeout_ms):
            return False
        try:
            data = self.sock.recv(_RECV_BYTES)
        except OSError:
            self.close()
            raise
        if not data:
            self._fail(CLOSED, "the broker closed the connection")
        self._rx += data
        return True

    def _wait_for(self, wanted, pid):
        """Handle packets until the answer `wanted` (for `pid`, -1: any) arrives; return its body."""
        start = ticks_ms()
        while True:
            body = self._take(wanted, pid)
            while body is not None:
                if body is not True:
                    return body
                body = self._take(wanted, pid)
            left = self.timeout_ms - ticks_diff(ticks_ms(), start)
            if left <= 0:
                self._fail(TIMEOUT, "no answer from the broker within %d ms" % self.timeout_ms)
            self._receive(left)

    def _take_any(self):
        packet = self._split()
        if packet is None:
            return None
        self._handle(packet[0], packet[1], -1, -1)
        return packet[0] & 0xF0

    def _take(self, wanted, pid):
        """Handle one buffered packet: its body if it is the awaited answer, True if another, None if none."""
        packet = self._split()
        if packet is None:
            return None
        body = self._handle(packet[0], packet[1], wanted, pid)
        return True if body is None else body

    def _split(self):
        """The first complete packet in the buffer as (first byte, body), or None."""
        rx = self._rx
        count = 0
        shift = 0
        index = 1
        while True:
            if index >= len(rx):
                return None
            byte = rx[index]
            count |= (byte & 0x7F) << shift
            index += 1
            if not byte & 0x80:
                break
            shift += 7
            if shift > 21:
                self._fail(MALFORMED, "remaining length longer than 4 bytes")
        if count > self.max_packet:
            self._fail(TOO_LARGE, "a %d-byte packet exceeds max_packet %d" % (count, self.max_packet))
        end = index + count
        if len(rx) < end:
            return None
        first = rx[0]
        body = bytes(rx[index:end])
        self._rx = rx[end:]
        return first, body

    def _handle(self, first, body, wanted, pid):
        kind = first & 0xF0
        flags = first & 0x0F
        if kind == PUBLISH:
            self._deliver(flags, body)
            return None
        if kind not in (CONNACK, PUBACK, SUBACK, PINGRESP):
            self._fail(UNEXPECTED, "a server must not send packet type 0x%02x" % kind)
        if flags:
            self._fail(MALFORMED, "reserved flags set in packet type 0x%02x" % kind)
        if kind == PINGRESP and not body:
            self.pings_unanswered = 0
            return None
        if kind == PUBACK and len(body) == 2 or kind == SUBACK and len(body) == 3:
            if kind == wanted and (body[0] << 8 | body[1]) == pid:
                return body
            return None  # a late answer to a request we gave up on
        if kind == CONNACK and len(body) == 2 and body[0] <= 1 and body[1] <= 5:
            if wanted == CONNACK:
                return body
            self._fail(UNEXPECTED, "CONNACK on an open connection")
        self._fail(MALFORMED, "bad packet of type 0x%02x (%d bytes)" % (kind, len(body)))

    def _deliver(self, flags, body):
        qos = (flags >> 1) & 3
        if qos == 3:
            self._fail(MALFORMED, "PUBLISH with QoS 3")
        if qos == 2:
            self._fail(UNEXPECTED, "QoS 2 message, but this client subscribes with QoS 0 or 1 only")
        if len(body) < 2:
            self._fail(MALFORMED, "PUBLISH without a topic")
        end = 2 + (body[0] << 8 | body[1])
        start = end + 2 if qos else end
        if end == 2 or start > len(body):
            self._fail(MALFORMED, "PUBLISH topic or packet id beyond the packet")
        topic = body[2:end]
        if b"+" in topic or b"#" in topic:
            self._fail(MALFORMED, "PUBLISH topic with wildcards")
        if self.cb is not None:
            self.retained = bool(flags & 1)
            try:
                self.cb(topic, body[start:])
            finally:
                self.retained = False
        if qos:
            self._send(bytes((PUBACK, 2, body[end], body[end + 1])))
