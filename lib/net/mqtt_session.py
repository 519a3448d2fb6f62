"""One broker connection shared by telemetry and the OpenDTU/AhoyDTU bridge, run without ever blocking.

The firmware calls `poll(now_ms)` from its service loop, outside the control
tick. While disconnected it starts a connection every `retry_ms`
(non-blocking: the TCP connect and the CONNACK are waited for across polls,
at most the client's `timeout_ms`) and, once the broker accepted it, runs
the `on_connect` hooks in the order they were added (the bridge queues its
subscriptions, telemetry starts announcing itself to Home Assistant). While
connected each poll sends what is queued, handles what has arrived (messages
go to the client's callback, which can read the arrival time from `now_ms`)
and keeps the connection alive.

Keepalive: a PINGREQ goes out every half keepalive, whatever else is sent
(MQTT only needs some packet per keepalive, but a connection that only sends
telemetry would never learn that the broker stopped answering). A ping still
unanswered when the next one is due drops the connection: a frozen broker
is noticed within one keepalive of its last answer, inside the
1.5 x keepalive after which the broker itself gives up on a silent client.

Every network or protocol error (OSError, MQTTException: a malformed packet
from the broker, a refused connection, a timeout) ends the connection, is kept
in `last_error` and counted in `drops`; the next attempt follows `retry_ms`
later. Nothing is raised to the caller, so its loop never stops on a broker
problem. `publish()` returns False when the message could not be queued.

Device notes: a poll returns at once whatever the broker does (bounded work,
mqtt.py); a host name as the server costs one DNS lookup per attempt,
bounded by lwIP. Keepalive timing uses the real clock (`ticks_ms`), as the
broker does; allocation: the client's, per packet.
"""

from compat import ticks_add, ticks_diff, ticks_ms
from mqtt import TIMEOUT, MQTTException


class Session:
    def __init__(self, client, retry_ms=10000):
        self.client = client
        self.retry_ms = retry_ms
        self.hooks = []
        self.now_ms = 0  # the time given to the newest poll(): when messages arrived
        self.connects = 0
        self.drops = 0
        self.last_error = None
        self._retry_ms = None  # when to try again; None: at the next poll
        self._up = False  # the hooks ran for this connection
        self._ping_ms = 0  # when the last ping was queued

    @property
    def connected(self):
        return self.client.connected

    def on_connect(self, hook):
        """Run hook() after every accepted connect (queue subscriptions, announce); it may raise."""
        self.hooks.append(hook)

    def poll(self, now_ms):
        """Connect when due, else send, handle arrived messages and keep alive; True while connected."""
        self.now_ms = now_ms
        client = self.client
        try:
            if client.sock is None:
                if self._retry_ms is not None and ticks_diff(now_ms, self._retry_ms) < 0:
                    return False
                self._up = False
                client.begin_connect()
            client.check_msg()
            if client.connected:
                if not self._up:
                    self._up = True
                    self.connects += 1
                    self._ping_ms = ticks_ms()
                    for hook in self.hooks:
                        hook()
                self._keep_alive(client)
        except (OSError, MQTTException) as error:
            self._drop(error)
        return client.connected

    def _keep_alive(self, client):
        half_ms = client.keepalive * 500
        now_ms = ticks_ms()
        if half_ms and ticks_diff(now_ms, self._ping_ms) >= half_ms:
            if client.pings_unanswered:
                raise MQTTException(TIMEOUT, "no PINGRESP within half the keepalive")
            self._ping_ms = now_ms
            client.ping()

    def publish(self, topic, msg, retain=False):
        """Queue one message (bytes, str, or a dict/list as JSON); False if disconnected or busy."""
        if not self.client.connected:
            return False
        try:
            return self.client.publish(topic, msg, retain)
        except (OSError, MQTTException) as error:
            self._drop(error)
            return False

    def _drop(self, error):
        self.client.close()
        self.drops += 1
        self.last_error = error
        self._retry_ms = ticks_add(self.now_ms, self.retry_ms)
