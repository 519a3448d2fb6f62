"""WiFi and NTP as netclock drives them, against a stand-in for `network` and an NTP server on loopback."""

import random
import socket
import struct
import time

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


class NtpServer:
    """An NTP server on a loopback UDP port that answers only when told to."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.port = 0
        for _ in range(20):  # MicroPython has no getsockname: try ports until one is free
            port = 20000 + random.getrandbits(14)
            try:
                self.sock.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
            except OSError:
                continue
            self.port = port
            break
        self.sock.setblocking(False)

    def requests(self):
        """The requests waiting, each answered with the transmit time NTP_SECONDS."""
        count = 0
        while True:
            try:
                request, peer = self.sock.recvfrom(64)
            except OSError:
                return count
            count += 1
            if request[0] == 0x1B and len(request) == 48:
                self.sock.sendto(bytes(40) + struct.pack("!I", NTP_SECONDS) + bytes(4), peer)

    def ignore(self):
        """Read and drop the requests waiting: a server that does not answer."""
        count = 0
        while True:
            try:
                self.sock.recvfrom(64)
            except OSError:
                return count
            count += 1


NTP_SECONDS = 3976000000  # 2026-01-01 or so, since 1900


def settle(net, now_ms):
    """Poll until the UDP answer is in (loopback: at once, but not within the same call)."""
    for _ in range(200):
        net.poll(now_ms)
        if net._ntp_socket is None:
            return
        time.sleep(0.002)


def test_joins_then_sets_the_clock_by_ntp_without_waiting_for_the_answer():
    network, server = Network(), NtpServer()
    saved = netclock.network
    netclock.network = network
    clock = []
    try:
        net = netclock.NetClock("plant", "secret", "127.0.0.1", set_clock=clock.append)
        net.ntp_port = server.port
        wlan = network.wlan
        assert wlan.activated and not net.up
        net.poll(0)
        net.poll(1000)
        assert wlan.joins == [("plant", "secret")]  # one attempt per RETRY_MS
        net.poll(netclock.RETRY_MS)
        assert len(wlan.joins) == 2 and server.ignore() == 0
        wlan.connected = True
        start = netclock.RETRY_MS + 100
        net.poll(start)  # sends the request and returns
        assert net.up and not net.clock_set and net._ntp_socket is not None
        time.sleep(0.05)
        assert server.ignore() == 1  # this one is never answered
        net.poll(ticks_add(start, netclock.ANSWER_MS - 1))
        assert net.ntp_failures == 0
        net.poll(ticks_add(start, netclock.ANSWER_MS))
        assert net.ntp_failures == 1 and not net.clock_set  # given up after ANSWER_MS
        net.poll(ticks_add(start, 1000 + netclock.ANSWER_MS))
        assert net._ntp_socket is None  # the failed attempt waits RETRY_MS
        retry = ticks_add(start, netclock.RETRY_MS + netclock.ANSWER_MS)
        net.poll(retry)
        time.sleep(0.05)
        assert server.requests() == 1
        settle(net, retry)
        assert net.clock_set and clock == [NTP_SECONDS - netclock._NTP_TO_EPOCH_S]
        net.poll(ticks_add(retry, netclock.RETRY_MS))
        time.sleep(0.05)
        assert server.ignore() == 0  # then once a day
        assert "connected 192.168.1.50" in net.describe()
    finally:
        netclock.network = saved
        server.sock.close()


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
