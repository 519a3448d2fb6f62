"""How late the control tick runs because of the network, on the 32-bit MicroPython build (ESP32 object sizes).

    .venv/bin/python bench/net_faults.py [--micropython PATH] [--seconds S] [--slow-clients N]

Runs host_tests/support/mp_net_bench.py (a control tick every 47 ms next to
the MQTT session, telemetry every second and the HTTP server, in one task as
on the device) against a real Mosquitto on loopback, in four scenarios:

- healthy: the broker answers;
- hung broker: the broker is frozen (SIGSTOP) right after the connection is
  up, for the whole run (keepalive 4 s: the drop must come within 6 s);
- killed broker: the broker is killed (SIGKILL) right after the connection is
  up, and every reconnect is refused;
- slow HTTP clients: N clients (50 by default) each open a connection and
  send a request head one byte per second without finishing it, and reconnect
  one second after the server closes them; a prober GETs /api/status every
  0.25 s and its answer times are reported (median and worst).

A CPython driver (it runs Mosquitto, signals it and plays the clients), so
`make bench`, which runs the MicroPython scripts bench_*.py, leaves it out.
Per scenario one line: the longest a due tick waited for a service pass (what
the network cost the control loop), the worst tick delay by the wall clock
(which also counts the host descheduling the process), MQTT drops and the
HTTP prober's figures. Numbers, not pass/fail (machines are shared
and noisy). Loopback only.
"""

import argparse
import functools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "host_tests" / "support")]

import broker as broker_process  # noqa: E402
import source_tree  # noqa: E402

M32 = ROOT / "build" / "mp32" / "micropython" / "ports" / "unix" / "build-m32" / "micropython-m32"
SCRIPT = ROOT / "host_tests" / "support" / "mp_net_bench.py"
KEEPALIVE_S = 4


def run_gateway(micropython, broker_port, http_port, seconds, when_up):
    command = [str(micropython), "-X", "heapsize=512k", str(SCRIPT), str(broker_port), str(http_port), str(seconds),
               str(KEEPALIVE_S)]
    env = dict(os.environ, MICROPYPATH=source_tree.search_path("host_tests/support"))
    gateway = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = gateway.stdout.readline()
        if line.strip() != "up":
            raise RuntimeError("gateway did not come up: %r %s" % (line, gateway.stderr.read()))
        after = when_up()
        out, err = gateway.communicate(timeout=seconds + 60)
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait(5)
    if gateway.returncode != 0:
        raise RuntimeError(err)
    result = json.loads(out.strip().splitlines()[-1])
    if after is not None:
        result.update(after())
    return result


class SlowClients:
    """N connections that send a request head one byte per second and reconnect a second after being closed."""

    def __init__(self, port, count):
        self.port = port
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(count)]
        self.answers_s = []
        self.failures = 0
        for thread in self.threads:
            thread.start()
        self.prober = threading.Thread(target=self._probe, daemon=True)
        self.prober.start()

    def _client(self):
        head = b"GET /api/status HTTP/1.1\r\nHost: gateway\r\nX-Slow: " + b"x" * 200
        while not self.stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                    for byte in head:
                        if self.stop.wait(1.0):
                            return
                        sock.sendall(bytes((byte,)))
            except OSError:
                pass
            self.stop.wait(1.0)

    def _probe(self):
        time.sleep(1.0)  # let the slow ones take every slot first
        while not self.stop.is_set():
            start = time.monotonic()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
                    sock.sendall(b"GET /api/status HTTP/1.0\r\n\r\n")
                    answer = b""
                    while True:
                        data = sock.recv(4096)
                        if not data:
                            break
                        answer += data
                if answer.startswith(b"HTTP/1.0 200"):
                    self.answers_s.append(time.monotonic() - start)
                else:
                    self.failures += 1
            except OSError:
                self.failures += 1
            self.stop.wait(0.25)

    def finish(self):
        self.stop.set()
        answers = sorted(self.answers_s)
        return {
            "probes_answered": len(answers),
            "probes_failed": self.failures,
            "probe_median_s": round(statistics.median(answers), 3) if answers else None,
            "probe_worst_s": round(answers[-1], 3) if answers else None,
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--micropython", default=str(M32), help="the MicroPython binary (default: the 32-bit build)")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--slow-clients", type=int, default=50)
    args = parser.parse_args()
    micropython = Path(args.micropython)
    if not micropython.exists():
        sys.exit("no MicroPython at %s (build the 32-bit port first, or give --micropython)" % micropython)
    print("MicroPython: %s, 512k heap (.py sources are compiled on import), tick every 47 ms, service pass every"
          " 100 ms, keepalive %d s" % (micropython.name, KEEPALIVE_S))
    scenarios = [
        ("healthy broker", lambda broker, http_port: None),
        ("hung broker (SIGSTOP)", lambda broker, http_port: _signal(broker, signal.SIGSTOP)),
        ("killed broker (SIGKILL)", lambda broker, http_port: _signal(broker, signal.SIGKILL)),
        ("%d slow HTTP clients" % args.slow_clients, lambda broker, http_port: _slow(http_port, args.slow_clients)),
    ]
    for name, action in scenarios:
        with broker_process.running() as broker:
            http_port = broker_process.free_port()
            try:
                result = run_gateway(micropython, broker.port, http_port, args.seconds,
                                     functools.partial(action, broker, http_port))
            finally:
                if broker.process.poll() is None:
                    broker.process.send_signal(signal.SIGCONT)
        print("%s: tick delayed by the network at most %d ms (longest service pass %d ms); worst tick delay "
              "%d ms wall clock, %d of %d ticks > 50 ms late; MQTT drops %d (first %s ms after the fault), state "
              "messages %d%s" % (
                  name, result["worst_wait_for_network_ms"], result["worst_service_pass_ms"],
                  result["worst_tick_delay_ms"], result["ticks_over_50ms"], result["ticks"], result["drops"],
                  result["first_drop_after_up_ms"], result["published"], _http(result)))


def _signal(broker, number):
    broker.process.send_signal(number)


def _slow(http_port, count):
    clients = SlowClients(http_port, count)
    return clients.finish


def _http(result):
    if "probe_median_s" not in result:
        return ""
    return "; /api/status under load: %d answered, %d failed, median %s s, worst %s s; evicted %d" % (
        result["probes_answered"], result["probes_failed"], result["probe_median_s"], result["probe_worst_s"],
        result["http_evicted"])


if __name__ == "__main__":
    main()
