"""WiFi station and the clock: joins the configured network and sets the RTC by NTP once it is up.

    net = NetClock(ssid, password, ntp_server)
    net.poll(now_ms)        # every service pass, outside the control tick
    net.up                  # True while the network is usable (always on a port without `network`)

On the ESP32 `poll` starts a connection (non-blocking: `WLAN.connect`
returns at once), retries every RETRY_MS while it is down, and once
connected sets the RTC with `ntptime.settime()` (UTC), again every
NTP_PERIOD_MS, and after a failure every RETRY_MS. The radio link and the
event log read the clock from then on (service_jobs.UtcClock, eventlog stamps).
An empty ssid means no WiFi: the network stays down and nothing is tried.

On the unix port there is no `network` module: the host's network and clock
are used as they are, so `up` is True and nothing else happens.

Timing: `ntptime.settime()` blocks for up to one second (its socket
timeout), once a day or once per RETRY_MS while NTP fails; `connect()` and
`isconnected()` return at once. Allocation: outside the control tick only.
"""

from compat import const, ticks_add, ticks_diff

RETRY_MS = const(30000)
NTP_PERIOD_MS = const(86400000)

try:
    import network
except ImportError:  # the unix port: the host's network
    network = None


class NetClock:
    def __init__(self, ssid="", password="", ntp_server="pool.ntp.org"):
        self.ssid = ssid
        self.password = password
        self.ntp_server = ntp_server
        self.wlan = None
        self.up = network is None
        self.clock_set = False
        self.ntp_failures = 0
        self.last_error = None
        self._connect_ms = None  # when to (re)try joining; None: at once
        self._ntp_ms = None  # when NTP is due; None: as soon as the network is up
        if network is not None and ssid:
            self.wlan = network.WLAN(network.STA_IF)
            self.wlan.active(True)

    def poll(self, now_ms):
        wlan = self.wlan
        if wlan is None:
            return
        self.up = wlan.isconnected()
        if not self.up:
            if self._connect_ms is None or ticks_diff(now_ms, self._connect_ms) >= 0:
                self._connect_ms = ticks_add(now_ms, RETRY_MS)
                try:
                    wlan.connect(self.ssid, self.password)
                except OSError as error:
                    self.last_error = error
            return
        if self.ntp_server and (self._ntp_ms is None or ticks_diff(now_ms, self._ntp_ms) >= 0):
            self._set_clock(now_ms)

    def _set_clock(self, now_ms):
        import ntptime

        ntptime.host = self.ntp_server
        try:
            ntptime.settime()
        except (OSError, OverflowError, IndexError) as error:
            self.ntp_failures += 1
            self.last_error = error
            self._ntp_ms = ticks_add(now_ms, RETRY_MS)
            return
        self.clock_set = True
        self._ntp_ms = ticks_add(now_ms, NTP_PERIOD_MS)

    def describe(self):
        if self.wlan is None:
            return "host network" if network is None else "no WiFi configured"
        state = "connected %s" % (self.wlan.ifconfig()[0],) if self.up else "not connected"
        return "WiFi %s: %s, clock %s" % (self.ssid, state, "set by NTP" if self.clock_set else "not set")
