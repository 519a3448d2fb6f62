"""WiFi and NTP as netclock drives them, against stand-ins for the ESP32's `network` and `ntptime` modules."""

import sys

import netclock
from compat import ticks_add


class WLAN:
    def __init__(self, interface):
        self.interface = interface
        self.connected = False
        self.joins = []
        self.activated = False

    def active(self, on):
        self.activated = on

    def connect(self, ssid, password):
        self.joins.append((ssid, password))

    def isconnected(self):
        return self.connected

    def ifconfig(self):
        return ("192.168.1.50", "255.255.255.0", "192.168.1.1", "192.168.1.1")


class Network:
    STA_IF = 0

    def __init__(self):
        self.wlan = None

    def WLAN(self, interface):  # noqa: N802 - the ESP32 module's name
        self.wlan = WLAN(interface)
        return self.wlan


class NtpTime:
    def __init__(self):
        self.host = None
        self.calls = 0
        self.fail = 1

    def settime(self):
        self.calls += 1
        if self.fail:
            self.fail -= 1
            raise OSError(110)  # ETIMEDOUT: no answer within ntptime's second


def test_joins_then_sets_the_clock_retrying_ntp_after_a_failure():
    network, ntptime = Network(), NtpTime()
    saved = netclock.network
    netclock.network = network
    sys.modules["ntptime"] = ntptime
    try:
        net = netclock.NetClock("plant", "secret", "ntp.example")
        wlan = network.wlan
        assert wlan.activated and not net.up
        net.poll(0)
        net.poll(1000)
        assert wlan.joins == [("plant", "secret")]  # one attempt per RETRY_MS
        net.poll(netclock.RETRY_MS)
        assert len(wlan.joins) == 2 and ntptime.calls == 0
        wlan.connected = True
        start = netclock.RETRY_MS + 100
        net.poll(start)
        assert net.up and ntptime.host == "ntp.example" and ntptime.calls == 1 and not net.clock_set
        net.poll(ticks_add(start, 1000))
        assert ntptime.calls == 1  # the failed attempt waits RETRY_MS
        net.poll(ticks_add(start, netclock.RETRY_MS))
        assert ntptime.calls == 2 and net.clock_set and net.ntp_failures == 1
        net.poll(ticks_add(start, 2 * netclock.RETRY_MS))
        assert ntptime.calls == 2  # then once a day
        assert "connected 192.168.1.50" in net.describe()
    finally:
        netclock.network = saved
        del sys.modules["ntptime"]


def test_no_ssid_means_no_wifi_and_the_unix_port_uses_the_host_network():
    saved = netclock.network
    netclock.network = Network()
    try:
        net = netclock.NetClock("", "", "pool.ntp.org")
        net.poll(0)
        assert net.wlan is None and not net.up and net.describe() == "no WiFi configured"
    finally:
        netclock.network = saved
    if saved is None:
        assert netclock.NetClock("plant", "x").up
