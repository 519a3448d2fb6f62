"""A small MQTT 3.1.1 client with micropython-lib's `umqtt.simple` API, that never blocks its caller.

    client = MQTTClient("gateway-1", "192.168.1.10", keepalive=60)
    client.set_callback(on_message)          # on_message(topic: bytes, msg: bytes)
    client.set_last_will("em/status", "offline", retain=True)
    client.begin_connect()                    # returns at once; check_msg() completes it
    client.check_msg()                        # send what is queued, handle what arrived; never blocks
    client.queue_subscribe(["solar/+/status/limit_absolute"])
    client.publish("em/state", {"grid": ...}) # a dict or list goes out as JSON, streamed

Only `socket` and `select` are used: the same file runs on the ESP32, the
unix port and CPython. The socket is non-blocking from the start (connect,
CONNECT, publish, reads). What is to be sent goes into one preallocated
buffer (`tx_bytes`, outbox.py) and out as the socket takes it; a dict or
list is written into it as JSON in small pieces (json_stream.py), never as
one block. `publish()` returns False while a message is still streaming out
(a hung broker). A PINGREQ goes out right after the message being streamed.
Received packets land in a preallocated buffer of `max_packet` bytes.

The blocking calls of `umqtt.simple` (`connect()`, `subscribe()`, QoS 1
`publish()`, `wait_msg()`: up to `timeout_ms`) are for tools and tests; the
firmware uses the non-blocking ones (mqtt_session.py). `retained` says if
the message being delivered is the broker's stored copy, not a live one.

Errors are values the caller can act on: every protocol problem raises
`MQTTException(code, text)` with a code below (codes 1..5 are the broker's
CONNACK refusals) after closing the socket, so the client is cleanly
disconnected and a new connect starts over; socket failures raise `OSError`
the same way. A malformed packet from the broker (bad remaining length, a
packet type a server must not send, a topic longer than the packet, QoS 3,
a packet larger than `max_packet`) is such an error: MQTT gives a client no
way to skip a bad packet and stay in step, so it must close the connection.

Device notes: not hot-path code. A check_msg does at most a few sends and
_RECV_ROUNDS reads: a few ms at most (bench/net_faults.py). RAM: the two
buffers once (512 + 1029 bytes by default); per message its header and the
JSON pieces (tens of bytes each); per received packet its body. A host name
costs a DNS lookup that blocks (lwIP bounds it): use an IP address. A QoS 1
message arriving while a message streams out is not acknowledged; the broker
delivers it again in a later session (QoS 1 is at least once). No TLS.
"""

import select
import socket

import json_stream
from compat import const, ticks_diff, ticks_ms
from outbox import Outbox, would_block

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
BUSY = const(108)  # the send buffer still holds a streamed message

_DOWN = const(0)
_OPENING = const(1)  # TCP connect and CONNECT sent, no CONNACK yet
_UP = const(2)

_RECV_ROUNDS = const(4)  # check_msg reads at most this many times: bounded work per call
_WAIT_SLICE_MS = const(10)  # how often the blocking calls wake up
_PROTOCOL_LEVEL = const(4)  # 3.1.1
_PINGREQ = b"\xc0\x00"


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


def _filters(topics, qos):
    for topic in topics:
        yield _field(topic)
        yield bytes((qos,))


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
        max_packet=1024,
        tx_bytes=512,
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
        self.session_present = 0
        self._state = _DOWN
        self._opened_ms = 0
        self._pid = 0
        self._ack_kind = 0  # the newest PUBACK/SUBACK: kind and packet id
        self._ack_pid = 0
        self._sub_pid = -1  # the newest SUBSCRIBE: a refusal in its SUBACK ends the connection
        self._handled = 0  # packets handled, for wait_msg
        self._last_kind = 0
        self._ping_wanted = False
        self._rx = bytearray(max_packet + 5)  # a header of up to 5 bytes and the body
        self._rx_view = memoryview(self._rx)
        self._rx_end = 0
        self._out = Outbox(tx_bytes)
        self._poller = None
        self._ready = None
        self._readinto = None

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
        """Open the connection and wait for the CONNACK; returns the broker's session-present flag."""
        self.begin_connect(clean_session)
        self._wait_for(CONNACK, 0)
        return self.session_present

    def disconnect(self):
        if self._state == _UP and self._out.put(b"\xe0\x00"):
            try:
                self._out.flush(self.sock)
            except OSError:
                pass
        self.close()

    def ping(self):
        """Queue a PINGREQ: it goes out right after the message being sent, if any."""
        self._require()
        self._ping_wanted = True
        self.pings_unanswered += 1
        self._flush()

    def publish(self, topic, msg, retain=False, qos=0):
        """Queue one message: bytes, str, or a dict/list sent as JSON; False if busy. QoS 1 waits for PUBACK."""
        topic = _bytes(topic)
        _check_topic(topic)
        if not 0 <= qos <= 1:
            raise ValueError("QoS 0 or 1")
        self._require()
        if not self._out.idle:
            return False
        if isinstance(msg, (dict, list)):
            size = json_stream.size(msg)
            pieces = json_stream.pieces(msg)
        else:
            msg = _bytes(msg)
            size = len(msg)
            pieces = (msg,)
        pid = self._next_pid() if qos else 0
        head = bytearray((PUBLISH | qos << 1 | (1 if retain else 0),))
        head += _length(2 + len(topic) + (2 if qos else 0) + size)
        head += _field(topic)
        if qos:
            head += bytes((pid >> 8, pid & 0xFF))
        if not self._out.stream(head, pieces):
            return False
        self._flush()
        if qos:
            self._wait_for(PUBACK, pid)
        return True

    def subscribe(self, topic, qos=0):
        """Subscribe to one filter and wait for the SUBACK."""
        self._wait_for(SUBACK, self.queue_subscribe((topic,), qos))

    def check_msg(self):
        """Send what is queued, handle what has arrived (messages go to the callback); never blocks."""
        self._require()
        if self._state == _OPENING and ticks_diff(ticks_ms(), self._opened_ms) >= self.timeout_ms:
            self._fail(TIMEOUT, "no CONNACK within %d ms" % self.timeout_ms)
        events = 0
        for _, event in self._ready(0):
            events = event
        if events & select.POLLOUT:
            self._flush()
        if events & ~select.POLLOUT:
            for _ in range(_RECV_ROUNDS):
                if not self._receive():
                    break
                self._take()
                if self.sock is None:
                    return

    def wait_msg(self, timeout_ms=-1):
        """Block until a packet is handled (or timeout_ms passes); returns its type or None."""
        self._require()
        start = ticks_ms()
        handled = self._handled
        while self._handled == handled:
            if 0 <= timeout_ms <= ticks_diff(ticks_ms(), start):
                return None
            self._poller.poll(_WAIT_SLICE_MS)
            self.check_msg()
        return self._last_kind

    # -- beyond umqtt.simple -------------------------------------------------------------------
    @property
    def connected(self):
        """The broker accepted the connection (CONNACK) and it is still open."""
        return self._state == _UP

    @property
    def busy(self):
        """A message is still streaming out: publish() would return False."""
        return not self._out.idle

    def begin_connect(self, clean_session=True):
        """Start the TCP connect and queue CONNECT; returns at once (a host name needs a DNS lookup first)."""
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
            sock.setblocking(False)
            try:
                sock.connect(address)
            except OSError as error:
                if not would_block(error):
                    raise
            self._poller = select.poll()
            self._poller.register(sock, select.POLLIN | select.POLLOUT)
            # ipoll (MicroPython) yields a reused tuple: an idle check_msg allocates nothing there.
            self._ready = getattr(self._poller, "ipoll", self._poller.poll)
            self._readinto = getattr(sock, "recv_into", None) or sock.readinto
            self._rx_end = 0
            self.pings_unanswered = 0
            self._ping_wanted = False
            if not self._out.put(self._connect_packet(clean_session)):
                raise ValueError("the CONNECT packet is larger than tx_bytes")
        except Exception:
            self.close()
            raise
        self._state = _OPENING
        self._opened_ms = ticks_ms()

    def queue_subscribe(self, topics, qos=0):
        """Queue one SUBSCRIBE for all `topics`; returns its packet id. A refusal in the SUBACK ends the connection."""
        topics = [_bytes(topic) for topic in topics]
        for topic in topics:
            if not 0 < len(topic) < 0x10000:
                raise ValueError("a topic filter is 1..65535 bytes")
        if not 0 <= qos <= 1:
            raise ValueError("QoS 0 or 1")
        self._require()
        pid = self._sub_pid = self._next_pid()
        size = 2
        for topic in topics:
            size += len(topic) + 3
        head = bytearray((SUBSCRIBE | 2,)) + _length(size) + bytes((pid >> 8, pid & 0xFF))
        if not self._out.stream(head, _filters(topics, qos)):
            raise MQTTException(BUSY, "the send buffer is busy")
        self._flush()
        return pid

    def close(self):
        """Drop the connection without a DISCONNECT packet (the last will is then sent)."""
        sock = self.sock
        self.sock = None
        self._poller = None
        self._state = _DOWN
        self._out.clear()
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

    def _flush(self):
        if self._ping_wanted and self._state == _UP and self._out.put(_PINGREQ):
            self._ping_wanted = False
        try:
            self._out.flush(self.sock)
        except OSError:
            self.close()
            raise

    def _receive(self):
        """Read what has arrived into the receive buffer; False if nothing was there."""
        try:
            count = self._readinto(self._rx_view[self._rx_end :])
        except OSError as error:
            if would_block(error):
                return False
            self.close()
            raise
        if count is None:
            return False
        if not count:
            self._fail(CLOSED, "the broker closed the connection")
        self._rx_end += count
        return True

    def _wait_for(self, wanted, pid):
        """Block until the answer `wanted` (CONNACK, or PUBACK/SUBACK for `pid`) is handled, or time out."""
        start = ticks_ms()
        while True:
            self.check_msg()
            if self._state == _UP if wanted == CONNACK else self._ack_kind == wanted and self._ack_pid == pid:
                return
            if ticks_diff(ticks_ms(), start) >= self.timeout_ms:
                self._fail(TIMEOUT, "no answer from the broker within %d ms" % self.timeout_ms)
            self._poller.poll(_WAIT_SLICE_MS)

    def _take(self):
        """Handle every complete packet in the receive buffer; move a partial one to its start."""
        rx = self._rx
        end = self._rx_end
        start = 0
        while self.sock is not None:
            count = 0
            shift = 0
            index = start + 1
            while index < end:
                byte = rx[index]
                count |= (byte & 0x7F) << shift
                index += 1
                if not byte & 0x80:
                    break
                shift += 7
                if shift > 21:
                    self._fail(MALFORMED, "remaining length longer than 4 bytes")
            else:
                break  # the length is not all in yet
            if count > self.max_packet:
                self._fail(TOO_LARGE, "a %d-byte packet exceeds max_packet %d" % (count, self.max_packet))
            if end < index + count:
                break
            first = rx[start]
            body = bytes(self._rx_view[index : index + count])
            start = index + count
            self._handled += 1
            self._last_kind = first & 0xF0
            self._handle(first, body)
        if self.sock is None:
            return
        for index in range(end - start):  # byte by byte: the ranges may overlap
            rx[index] = rx[start + index]
        self._rx_end = end - start

    def _handle(self, first, body):
        kind = first & 0xF0
        flags = first & 0x0F
        if kind == PUBLISH:
            self._deliver(flags, body)
            return
        if kind not in (CONNACK, PUBACK, SUBACK, PINGRESP):
            self._fail(UNEXPECTED, "a server must not send packet type 0x%02x" % kind)
        if flags:
            self._fail(MALFORMED, "reserved flags set in packet type 0x%02x" % kind)
        if kind == PINGRESP and not body:
            self.pings_unanswered = 0
            return
        if kind == PUBACK and len(body) == 2 or kind == SUBACK and len(body) >= 3:
            self._ack_kind = kind
            self._ack_pid = body[0] << 8 | body[1]
            if kind == SUBACK and self._ack_pid == self._sub_pid and 0x80 in body[2:]:
                self._fail(SUBSCRIBE_REFUSED, "subscription refused by the broker")
            return  # else an answer, maybe late, to a request we gave up on
        if kind == CONNACK and len(body) == 2 and body[0] <= 1 and body[1] <= 5:
            if self._state != _OPENING:
                self._fail(UNEXPECTED, "CONNACK on an open connection")
            if body[1]:
                self._fail(body[1], "connection refused by the broker")
            self.session_present = body[0] & 1
            self._state = _UP
            return
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
            self._out.put(bytes((PUBACK, 2, body[end], body[end + 1])))
