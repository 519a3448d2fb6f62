"""One broker connection shared by telemetry and the OpenDTU/AhoyDTU bridge.

The firmware calls `poll(now_ms)` from its main loop, outside the control
tick. While disconnected it tries to connect every `retry_ms` and, once
connected, runs the `on_connect` hooks in the order they were added (the
bridge subscribes, telemetry announces itself to Home Assistant). While
connected it handles what has arrived (messages go to the client's callback,
which can read the arrival time from `now_ms`) and sends a PINGREQ when
nothing went out for half the keepalive; a ping left unanswered that long
means the broker is gone.

Every network or protocol error (OSError, MQTTException: a malformed packet
from the broker, a refused connection, a timeout) ends the connection, is kept
in `last_error` and counted in `drops`; the next attempt follows `retry_ms`
later. Nothing is raised to the caller, so its loop never stops on a broker
problem. `publish()` returns False when the message could not go out.

Device notes: a connection attempt blocks for up to the client's `timeout_ms`
(DNS, TCP, CONNACK, then each SUBACK), at most once per `retry_ms`; a connected
poll only reads what has arrived. Keepalive timing uses the real clock
(`ticks_ms`), as the broker does.
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

    @property
    def connected(self):
        return self.client.connected

    def on_connect(self, hook):
        """Run hook() after every successful connect (subscribe, announce); it may raise."""
        self.hooks.append(hook)

    def poll(self, now_ms):
        """Connect when due, else handle arrived messages and keep alive; True while connected."""
        self.now_ms = now_ms
        client = self.client
        try:
            if not client.connected:
                if self._retry_ms is not None and ticks_diff(now_ms, self._retry_ms) < 0:
                    return False
                client.connect()
                self.connects += 1
                for hook in self.hooks:
                    hook()
                return client.connected
            client.check_msg()
            keepalive_ms = client.keepalive * 1000
            if keepalive_ms and client.connected and ticks_diff(ticks_ms(), client.sent_ms) >= keepalive_ms // 2:
                if client.pings_unanswered:
                    raise MQTTException(TIMEOUT, "no PINGRESP within half the keepalive")
                client.ping()
        except (OSError, MQTTException) as error:
            self._drop(error)
        return client.connected

    def publish(self, topic, msg, retain=False):
        """Send one message now; False if disconnected or it failed (the connection is then dropped)."""
        if not self.client.connected:
            return False
        try:
            self.client.publish(topic, msg, retain)
            return True
        except (OSError, MQTTException) as error:
            self._drop(error)
            return False

    def _drop(self, error):
        self.client.close()
        self.drops += 1
        self.last_error = error
        self._retry_ms = ticks_add(self.now_ms, self.retry_ms)
