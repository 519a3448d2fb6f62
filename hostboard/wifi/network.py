"""A stand-in for the ESP32's `network` module (tools/ram.py): a WiFi station that is up once asked to connect.

Only what firmware/netclock.py uses: WLAN(STA_IF), active(), connect(),
isconnected(), ifconfig(). The traffic itself goes through the host's
loopback, so the firmware's MQTT and HTTP run over real sockets. On the
device `network` is built into the image; here it counts as harness heap.
"""

STA_IF = 0


class WLAN:
    def __init__(self, interface=STA_IF):
        self.interface = interface
        self._active = False
        self._connected = False

    def active(self, value=None):
        if value is not None:
            self._active = bool(value)
        return self._active

    def connect(self, ssid, password=""):
        if not self._active:
            raise OSError("WLAN not active")
        self._connected = True

    def isconnected(self):
        return self._connected

    def ifconfig(self):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
