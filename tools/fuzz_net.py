"""Fuzz targets on the network: the MQTT client's packet reader and the HTTP status server (see tools/fuzz.py).

MQTT is fuzzed through the client's public API (connect, check_msg, the callback) with its `socket` and
`select` modules replaced by fakes at the OS boundary; HTTP through the server's `poll()`, over real
sockets on 127.0.0.1.
"""

import http_status
import mqtt
from fuzz_mutations import flip_bits, noise


class FakeSocket:
    def __init__(self, target):
        self.target = target

    def settimeout(self, value):
        pass

    def setblocking(self, flag):
        pass

    def connect(self, address):
        pass

    def close(self):
        pass

    def fileno(self):
        return -1

    def sendall(self, data):
        data = bytes(data)
        if data[:1] == b"\x10":
            self.target.incoming.append(b"\x20\x02\x00\x00")  # CONNACK, session not present
        return len(data)

    send = write = sendall

    def recv(self, size):
        incoming = self.target.incoming
        if not incoming:
            raise OSError(11)
        chunk = incoming[0]
        if len(chunk) > size:
            incoming[0] = chunk[size:]
            return chunk[:size]
        incoming.pop(0)
        return chunk

    read = recv

    def readinto(self, buf, size=-1):
        chunk = self.recv(len(buf) if size < 0 else min(size, len(buf)))
        buf[: len(chunk)] = chunk
        return len(chunk)


class FakePoller:
    def __init__(self, target):
        self.target = target

    def register(self, *args):
        pass

    modify = register

    def unregister(self, *args):
        pass

    def poll(self, timeout_ms=-1):
        """Always writable (the fake sends at once), readable while bytes wait."""
        return [(None, FakeNet.POLLOUT | (FakeNet.POLLIN if self.target.incoming else 0))]

    ipoll = poll


class FakeNet:
    """Stands for the `socket` and `select` modules inside lib/net/mqtt.py."""

    AF_INET = 2
    SOCK_STREAM = 1
    POLLIN = 1
    POLLOUT = 4
    POLLERR = 8
    POLLHUP = 16

    def __init__(self, target):
        self.target = target

    def getaddrinfo(self, host, port, *args):
        return [(2, 1, 0, "", ("127.0.0.1", port))]

    def socket(self, *args):
        return FakeSocket(self.target)

    def poll(self):
        return FakePoller(self.target)


def _mqtt_length(count):
    out = bytearray()
    while True:
        byte = count & 0x7F
        count >>= 7
        out.append(byte | (0x80 if count else 0))
        if not count:
            return bytes(out)


class MqttTarget:
    def __init__(self, rng, result):
        self.rng = rng
        self.result = result
        self.incoming = []
        net = FakeNet(self)
        mqtt.socket = net
        mqtt.select = net
        self.client = mqtt.MQTTClient("fuzz", "broker", timeout_ms=50)
        self.delivered = []
        self.client.set_callback(self._message)

    def _message(self, topic, msg):
        self.delivered.append((bytes(topic), bytes(msg)))
        self.result.checked += 1

    def reset(self):
        self.client.close()

    def _publish(self):
        rng = self.rng
        topic = b"t/" + bytes(rng.between(0x30, 0x7A) for _ in range(rng.between(1, 20)))
        msg = noise(rng, 0, 60)
        qos = rng.below(2)
        body = bytes((len(topic) >> 8, len(topic) & 0xFF)) + topic
        if qos:
            body += bytes((rng.below(256), rng.between(1, 255)))
        return bytes((0x30 | qos << 1 | rng.below(2),)) + _mqtt_length(len(body) + len(msg)) + body + msg, (topic, msg)

    def one(self):
        rng = self.rng
        if not self.client.connected:
            self.incoming = []
            self.client.connect()
        stream = bytearray()
        expected = []
        for _ in range(rng.between(1, 4)):
            choice = rng.below(4)
            if choice < 2:
                packet, message = self._publish()
                expected.append(message)
            elif choice == 2:
                packet = b"\xd0\x00"
            else:
                packet = b"\x40\x02" + bytes((rng.below(256), rng.below(256)))
            stream.extend(packet)
        mutated = rng.chance(0.4)
        if mutated:
            stream = self._mutate(stream)
        self.delivered = []
        while stream:
            cut = rng.between(1, len(stream))
            self.incoming.append(bytes(stream[:cut]))
            stream = stream[cut:]
        try:
            for _ in range(40):
                self.client.check_msg()
                if not self.incoming:
                    break
        except (mqtt.MQTTException, OSError):
            self.client.close()
            if not mutated:
                self.result.wrong += 1
                self.result.note("wrong", "valid packets refused")
            return
        if mutated:
            self.client.close()  # a stream with a fault cannot be resynchronised: start over, as the app does
        elif self.delivered != expected:
            self.result.wrong += 1
            self.result.checked -= len(self.delivered)
            self.result.note("wrong", "delivered %r, sent %r" % (self.delivered[:1], expected[:1]))

    def _mutate(self, stream):
        rng = self.rng
        kind = rng.below(5)
        if kind == 0:
            return flip_bits(stream, rng)
        if kind == 1:
            return stream[: rng.below(len(stream))]
        if kind == 2:
            return stream + noise(rng, 1, 30)
        if kind == 3:
            return bytearray(b"\x30\xff\xff\xff\xff\x7f") + stream
        return bytearray(noise(rng, 1, 60))


TOKEN = "fuzz-token-123"


class HttpTarget:
    def __init__(self, rng, result):
        import socket

        self.socket = socket
        self.rng = rng
        self.result = result
        self.limits = []
        self.settings = {"http_writes": True, "http_token": TOKEN}
        self.now = 0
        for _ in range(20):
            self.port = 20000 + rng.below(20000)
            try:
                self.server = http_status.StatusServer(
                    lambda now_ms: {"grid_w": 1}, self.limits.append, self.settings.get, port=self.port,
                    host="127.0.0.1", timeout_ms=500,
                )
                break
            except OSError:
                continue

    def reset(self):
        pass

    def _request(self):
        rng = self.rng
        kind = rng.below(4)
        if kind == 0:
            return b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n", None
        if kind == 1:
            return b"GET / HTTP/1.0\r\n\r\n", None
        value = rng.between(-10, 2000000)
        body = '{"export_limit_w": %d}' % value
        token = TOKEN if rng.chance(0.7) else "wrong-token-456"
        head = "POST /api/limit HTTP/1.1\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (token, len(body))
        return (head + body).encode(), value if token == TOKEN and 0 <= value <= 1000000 else None

    def one(self):
        rng = self.rng
        request, value = self._request()
        mutated = rng.chance(0.5)
        if mutated:
            kind = rng.below(4)
            if kind == 0:
                request = bytes(flip_bits(request, rng))
            elif kind == 1:
                request = request[: rng.below(len(request))]
            elif kind == 2:
                request = request + noise(rng, 1, 2000)
            else:
                request = noise(rng, 1, 300)
        del self.limits[:]
        client = self.socket.socket()
        client.connect(self.socket.getaddrinfo("127.0.0.1", self.port)[0][-1])
        client.setblocking(False)
        answer = self._exchange(client, request)
        client.close()
        for _ in range(20):
            if not self.server.poll(self.now):
                break
            self.now += 100
        self._judge(answer, request, value, mutated, self.limits)

    def _exchange(self, client, request):
        sent = 0
        answer = bytearray()
        for _ in range(200):
            if sent < len(request):
                try:
                    sent += client.send(request[sent : sent + 512])
                except OSError:
                    pass
            self.server.poll(self.now)
            self.now += 20
            try:
                data = client.recv(2048)
            except OSError:
                data = None
            if data:
                answer.extend(data)
            elif data == b"":
                return answer
        self.result.hangs += 1
        self.result.note("hang", "no answer to %r" % request[:40])
        return answer

    def _judge(self, answer, request, value, mutated, limits):
        status = answer[9:12]
        self.result.checked += status == b"200"
        if status == b"500":
            self.result.escaped += 1
            self.result.note("escaped", "500 for %r" % request[:60])
        if not mutated and value is not None and limits != [value]:
            self.result.wrong += 1
            self.result.note("wrong", "limit %r set for %r" % (limits, value))
        for limit in limits:
            if str(limit).encode() not in request or TOKEN.encode() not in request:
                self.result.wrong += 1
                self.result.note("wrong", "limit %d set from %r" % (limit, request[:80]))
