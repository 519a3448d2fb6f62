"""A real Mosquitto broker on a free loopback port, for the MQTT tests (CPython only).

`running()` writes a temporary config (one listener on 127.0.0.1, anonymous
access), starts `mosquitto`, waits until it accepts connections and stops it
afterwards. Without the Debian package the tests are skipped with a reason,
except in CI (`CI` set), where a missing broker is a failure: .ci/run
installs it.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

START_TIMEOUT_S = 10


def executable():
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if found:
        return found
    reason = "mosquitto is not installed (apt-get install -y mosquitto)"
    if os.environ.get("CI"):
        pytest.fail(reason + "; CI must install it (.ci/run)")
    pytest.skip(reason)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Broker:
    def __init__(self, port, process, log_path):
        self.host = "127.0.0.1"
        self.port = port
        self.process = process
        self.log_path = log_path

    def freeze(self):
        """SIGSTOP: the kernel still accepts and buffers, the broker answers nothing (a hung broker)."""
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.process.send_signal(signal.SIGCONT)

    def log(self):
        with open(self.log_path) as log:
            return log.read()


@contextlib.contextmanager
def running():
    binary = executable()
    with tempfile.TemporaryDirectory(prefix="mosquitto-") as folder:
        port = free_port()
        config = os.path.join(folder, "mosquitto.conf")
        with open(config, "w") as out:
            out.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n" % port)
        log_path = os.path.join(folder, "mosquitto.log")
        with open(log_path, "w") as log:
            process = subprocess.Popen([binary, "-c", config, "-v"], stdout=log, stderr=subprocess.STDOUT)
        broker = Broker(port, process, log_path)
        try:
            _wait_until_listening(broker)
            yield broker
        finally:
            if process.poll() is None:
                broker.thaw()
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _wait_until_listening(broker):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if broker.process.poll() is not None:
            raise RuntimeError("mosquitto exited at start:\n" + broker.log())
        try:
            with socket.create_connection((broker.host, broker.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not listen on port %d within %d s" % (broker.port, START_TIMEOUT_S))
