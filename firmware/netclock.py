"""WiFi station and the clock: joins the configured network and sets the RTC by NTP once it is up.

    net = NetClock(ssid, password, ntp_server)
    net.poll(now_ms)        # every service pass, outside the control tick
    net.up                  # True while the network is usable (always on a port without `network`)

On the ESP32 `poll` starts a connection (non-blocking: `WLAN.connect`
returns at once), retries every RETRY_MS while it is down, and once
connected sets the RTC (UTC) by NTP, again every NTP_PERIOD_MS, and after a
failure every RETRY_MS. The NTP query is its own, not `ntptime.settime()`
(which waits up to a second for the answer): one pass sends the request on
a non-blocking UDP socket, later passes look for the answer, for at most
ANSWER_MS. The radio link and the event log read the clock from then on
(service_jobs.UtcClock, eventlog stamps).
An empty ssid means no WiFi: the network stays down and nothing is tried.

On the unix port there is no `network` module: the host's network and clock
are used as they are, so `up` is True and nothing else happens.

Timing: every call returns at once, except the DNS lookup of a host
name as `ntp_server`, done once and again only after a failure (lwIP bounds
it; an IP address avoids it). `connect()` and `isconnected()` return at
once. Allocation: a socket and a 48-byte packet per query, outside the
control tick only.
"""

import errno
import socket
import struct
import time

from compat import const, ticks_add, ticks_diff

RETRY_MS = const(30000)
NTP_PERIOD_MS = const(86400000)
ANSWER_MS = const(2000)
NTP_PORT = const(123)
# Seconds from the NTP epoch (1900) to the port's epoch: 2000 on the ESP32, 1970 on the unix port.
_NTP_TO_EPOCH_S = 3155673600 if time.gmtime(0)[0] == 2000 else 2208988800

try:
    import network
except ImportError:  # the unix port: the host's network
    network = None


def set_rtc(utc_s):
    """Set the ESP32's RTC to `utc_s` seconds since the port's epoch, as ntptime.settime() does."""
    import machine

    tm = time.gmtime(utc_s)
    machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6] + 1, tm[3], tm[4], tm[5], 0))


class NetClock:
    def __init__(self, ssid="", password="", ntp_server="pool.ntp.org", set_clock=set_rtc):
        self.ssid = ssid
        self.password = password
        self.ntp_server = ntp_server
        self.ntp_port = NTP_PORT
        self._set_rtc = set_clock
        self._ntp_address = None  # the server's address, looked up once (again after a failure)
        self._ntp_socket = None  # a query waiting for its answer
        self._ntp_asked_ms = 0
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
        if self._ntp_socket is not None:
            self._ntp_answer(now_ms)
        elif self.ntp_server and (self._ntp_ms is None or ticks_diff(now_ms, self._ntp_ms) >= 0):
            self._ntp_ask(now_ms)

    def _ntp_ask(self, now_ms):
        """Send one NTP request (client mode, version 3) without waiting for the answer."""
        request = bytearray(48)
        request[0] = 0x1B
        try:
            if self._ntp_address is None:
                self._ntp_address = socket.getaddrinfo(self.ntp_server, self.ntp_port)[0][-1]
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._ntp_socket = sock
            sock.setblocking(False)
            sock.sendto(request, self._ntp_address)
        except OSError as error:
            self._ntp_failed(error, now_ms)
            return
        self._ntp_asked_ms = now_ms

    def _ntp_answer(self, now_ms):
        try:
            answer = self._ntp_socket.recv(48)
        except OSError as error:
            if error.args[0] != errno.EAGAIN:
                self._ntp_failed(error, now_ms)
            elif ticks_diff(now_ms, self._ntp_asked_ms) >= ANSWER_MS:
                self._ntp_failed(OSError(errno.ETIMEDOUT), now_ms)
            return
        seconds = struct.unpack("!I", answer[40:44])[0] if len(answer) >= 48 else 0
        if not seconds:
            self._ntp_failed(ValueError("not an NTP answer"), now_ms)
            return
        self._close_ntp()
        self._set_rtc(seconds - _NTP_TO_EPOCH_S)
        self.clock_set = True
        self._ntp_ms = ticks_add(now_ms, NTP_PERIOD_MS)

    def _ntp_failed(self, error, now_ms):
        self._close_ntp()
        self._ntp_address = None
        self.ntp_failures += 1
        self.last_error = error
        self._ntp_ms = ticks_add(now_ms, RETRY_MS)

    def _close_ntp(self):
        if self._ntp_socket is not None:
            self._ntp_socket.close()
            self._ntp_socket = None

    def describe(self):
        if self.wlan is None:
            return "host network" if network is None else "no WiFi configured"
        state = "connected %s" % (self.wlan.ifconfig()[0],) if self.up else "not connected"
        return "WiFi %s: %s, clock %s" % (self.ssid, state, "set by NTP" if self.clock_set else "not set")
