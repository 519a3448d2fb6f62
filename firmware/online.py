"""The gateway's network side: MQTT telemetry, the OpenDTU/AhoyDTU bridge and the HTTP status server.

    online = Online(settings, status, set_export_limit, setting, make_bridge, commission)
    online.poll(now_ms, net_up)                  # every service pass, outside the control tick
    online.publish_event(kind, t_ms, a, b)        # the firmware's event fan-out
    online.close()                                # clean stop: "offline", disconnect, close the listener

What exists follows the settings: with `mqtt_server` set, one MQTT session
(lib/net/mqtt_session.py) carries telemetry with Home Assistant discovery
(lib/net/telemetry.py) and, with `dtu_type` opendtu or ahoydtu, the DTU bridge
(lib/net/mqtt_bridge.py), the inverter link then: `make_bridge(session)`
builds it (wiring.py builds every link) and is not kept. With `http_enabled`, the status
server (lib/net/http_status.py) listens on `http_port` once the network is up;
its writes, a new export limit through `set_export_limit` and the settings
page through web_settings.py, go through cfg.set (checked, logged as
CONFIG_CHANGED, acting at the next control tick); the settings page's
commissioning button calls `commission(minutes)` (App.commission, None
without one).

Never blocking: the MQTT connection is made across service passes
(non-blocking TCP connect, CONNACK within CONNECT_TIMEOUT_MS, at most once
per `mqtt_retry_s`; a host name also needs a DNS lookup, which lwIP bounds
itself: use an IP address to avoid it). Connected, a poll sends what the
socket takes and reads what has arrived; telemetry and HTTP answers are
streamed from preallocated buffers in small pieces. A hung broker is
dropped within one keepalive, a slow HTTP client gives way to the next.
Measured on the 32-bit unix port (bench/net_faults.py): a service pass
takes at most a few milliseconds (5 ms measured), also with a hung or
killed broker and with 50 slow HTTP clients. All of it allocates, none of
it runs in the control tick.
"""

from compat import const

CONNECT_TIMEOUT_MS = const(1000)  # a LAN broker answers in milliseconds; a silent one is given up after this


def _web_settings():
    """What the settings page edits (web_settings.py): imported at its first use, not at boot."""
    import web_settings

    return web_settings


class Online:
    def __init__(self, settings, status, set_export_limit, setting, make_bridge=None, commission=None):
        self.settings = settings
        self.status = status
        self._set_export_limit = set_export_limit
        self._setting = setting
        self._commission = commission
        self.session = None
        self.bridge = None
        self.telemetry = None
        self.http = None
        self.http_error = None
        if settings["mqtt_server"]:
            self._mqtt(settings, make_bridge)

    def _mqtt(self, settings, make_bridge):
        import mqtt
        import mqtt_session
        import telemetry

        client = mqtt.MQTTClient(
            settings["mqtt_node_id"], settings["mqtt_server"], settings["mqtt_port"],
            user=settings["mqtt_user"] or None, password=settings["mqtt_password"] or None,
            keepalive=settings["mqtt_keepalive_s"], timeout_ms=CONNECT_TIMEOUT_MS,
        )
        self.session = mqtt_session.Session(client, retry_ms=settings["mqtt_retry_s"] * 1000)
        if make_bridge is not None:
            self.bridge = make_bridge(self.session)
        self.telemetry = telemetry.Telemetry(
            self.session, self.status, node_id=settings["mqtt_node_id"], prefix=settings["mqtt_prefix"],
            discovery_prefix=settings["ha_discovery_prefix"], telemetry_period_s=settings["telemetry_period_s"],
            bridge=self.bridge,
        )

    def poll(self, now_ms, net_up=True):
        if not net_up:
            return
        session = self.session
        if session is not None:
            session.poll(now_ms)
            if self.bridge is not None:
                self.bridge.poll(now_ms)
            self.telemetry.poll(now_ms)
        if self.http is None and self.http_error is None and self.settings["http_enabled"]:
            self._listen()
        if self.http is not None:
            self.http.poll(now_ms)

    def _listen(self):
        import http_status

        try:
            self.http = http_status.StatusServer(
                self.status.snapshot, self._set_export_limit, self._setting, port=self.settings["http_port"],
                settings=_web_settings, commission=self._commission,
            )
        except OSError as error:
            self.http_error = error
            print("http: cannot listen on port %d: %r" % (self.settings["http_port"], error))

    def publish_event(self, kind, t_ms, a=0, b=0):
        if self.telemetry is not None:
            self.telemetry.publish_event(kind, t_ms, a, b)

    def close(self):
        if self.telemetry is not None:
            self.telemetry.close()
        if self.session is not None:
            self.session.client.close()
        if self.http is not None:
            self.http.close()
            self.http = None

    def describe(self):
        """One status line per part that exists."""
        lines = []
        session = self.session
        if session is not None:
            lines.append("mqtt %s:%d: %s, connects %d, drops %d, last error %r; telemetry sent %d, events %d" % (
                self.settings["mqtt_server"], self.settings["mqtt_port"],
                "connected" if session.connected else "DISCONNECTED", session.connects, session.drops,
                session.last_error, self.telemetry.published, self.telemetry.events_published))
        bridge = self.bridge
        if bridge is not None:
            lines.append("dtu %s: commands %d, acks %d, timeouts %d, reports %d, malformed %d" % (
                self.settings["dtu_type"], bridge.commands, bridge.acks, bridge.timeouts, bridge.reports,
                bridge.malformed))
        if self.http is not None:
            lines.append("http :%d: served %d, errors %d, writes %d (writes %s)" % (
                self.settings["http_port"], self.http.served, self.http.errors, self.http.writes,
                "on" if self._setting("http_writes") else "off"))
        elif self.http_error is not None:
            lines.append("http: NOT LISTENING: %r" % (self.http_error,))
        return lines

