"""The HTTP status server from a real client: CPython's http.client against lib/net/http_status.py.

The server runs in a subprocess, under the MicroPython unix port (the code the ESP32 runs)
and under CPython, serving a fixed plant state (host_tests/support/http_fixture_server.py).
Every bad request must get its 4xx status with a JSON error and leave the export limit alone.
"""

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import source_tree

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "host_tests" / "support" / "http_fixture_server.py"
SEARCH_PATH = source_tree.search_path("host_tests/support")
TOKEN = "s3cret-Token_42"
TIMEOUT_MS = 800


def micropython_executable():
    found = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which("micropython")
    if not found:
        pytest.fail("no `micropython` executable: run `make test`")
    return found


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, runtime, writes, log, token=TOKEN):
        self.port = free_port()
        self.log = log
        log.write_text("")
        if runtime == "micropython":
            command = [micropython_executable()]
            env = dict(os.environ, MICROPYPATH=SEARCH_PATH)
        else:
            command = [sys.executable, "-u"]
            env = dict(os.environ, PYTHONPATH=SEARCH_PATH)
        command += [str(SCRIPT), str(self.port), "1" if writes else "0", token, str(TIMEOUT_MS), str(log)]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.stop()
            raise AssertionError("server did not start: %r %s" % (line, self.process.stderr.read()))

    def stop(self):
        self.process.kill()
        self.process.communicate(timeout=10)

    def changes(self):
        """The export limits the server applied, in order."""
        return self.log.read_text().splitlines()

    def request(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def raw(self, data, read_timeout_s=10):
        """Send raw bytes, return the answer (head and as much body as Content-Length says)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=read_timeout_s) as client:
            client.sendall(data)
            return read_answer(client)

    def status(self):
        code, headers, body = self.request("GET", "/api/status")
        assert code == 200
        assert headers["Content-Type"] == "application/json"
        return json.loads(body)

    def limit(self):
        return self.status()["export_limit_w"]

    def post_limit(self, value, token=TOKEN, extra=None):
        body = json.dumps({"export_limit_w": value} if extra is None else extra)
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        return self.request("POST", "/api/limit", body=body, headers=headers)


RUNTIMES = ("micropython", "cpython")


@pytest.fixture(params=RUNTIMES)
def server(request, tmp_path):
    running = Server(request.param, writes=True, log=tmp_path / "changes.log")
    yield running
    running.stop()


@pytest.fixture(params=RUNTIMES)
def readonly_server(request, tmp_path):
    running = Server(request.param, writes=False, log=tmp_path / "changes.log")
    yield running
    running.stop()


def error_of(response):
    code, headers, body = response
    assert headers["Content-Type"] == "application/json"
    document = json.loads(body)
    assert document["status"] == code
    return code, document["error"]


def test_page_has_a_live_chart_and_no_external_resources(server):
    code, headers, body = server.request("GET", "/")
    assert code == 200
    assert headers["Content-Type"].startswith("text/html")
    page = body.decode()
    assert "<canvas" in page and 'fetch("/api/status")' in page and "setInterval(tick" in page
    assert "http://" not in page and "https://" not in page and "src=" not in page


def test_status_json_reports_the_plant(server):
    status = server.status()
    assert status["mode"] == "regulating"
    assert status["export_limit_w"] == 600
    assert status["grid"]["valid"] is True
    assert status["grid"]["power_w"] == -123
    assert status["grid"]["phase_power_w"] == [-40, -83, 0]
    assert status["grid"]["voltage_dv"] == [2301, 2299, 2310]
    assert status["grid"]["frequency_chz"] == 5001
    assert 0 <= status["grid"]["age_ms"] < 200000
    assert status["pv_power_w"] == 599  # only inverter 0 has reported its output
    assert status["load_power_w"] == 1377 and status["limit_total_w"] == 1600
    first, second = status["inverters"]
    assert first == {**first, "index": 0, "phase": 1, "rated_w": 800, "limit_w": 600, "output_w": 599}
    assert first["command"] == "acked"
    assert second["command"] == "queued" and second["output_w"] is None and second["limit_w"] == 1000
    assert status["meter"] == {"ok": 1000, "timeout": 3, "crc": 2, "exception": 1, "invalid": 0}
    assert status["energy"] == {"import_wh": 123456, "export_wh": 654321, "pv_wh": 999000}
    assert server.request("GET", "/api/status?x=1")[0] == 200  # a query string is ignored


def test_writes_are_off_by_default(readonly_server):
    code, message = error_of(readonly_server.post_limit(300))
    assert code == 403 and "disabled" in message
    assert readonly_server.limit() == 600
    assert readonly_server.changes() == []


def test_token_is_required_for_writes(server):
    code, message = error_of(server.post_limit(300, token=None))
    assert code == 401
    assert error_of(server.post_limit(300, token="wrong-token-123"))[0] == 401
    assert error_of(server.post_limit(300, token=TOKEN + "x"))[0] == 401
    assert server.post_limit(300, token=None)[1]["WWW-Authenticate"].startswith("Bearer")
    assert server.limit() == 600
    code, _, body = server.post_limit(300)
    assert code == 200 and json.loads(body) == {"export_limit_w": 300}
    assert server.limit() == 300
    assert server.changes() == ["limit 300"]  # exactly one change reached the controller
    basic = {"Authorization": "Basic " + TOKEN, "Content-Type": "application/json"}
    assert error_of(server.request("POST", "/api/limit", body=b'{"export_limit_w": 250}', headers=basic))[0] == 401
    lower = {"Authorization": "bearer " + TOKEN, "Content-Type": "application/json"}  # the scheme is case-insensitive
    assert server.request("POST", "/api/limit", body=b'{"export_limit_w": 250}', headers=lower)[0] == 200
    assert server.changes() == ["limit 300", "limit 250"]


@pytest.mark.parametrize("interpreter", RUNTIMES)
def test_a_short_or_empty_token_refuses_every_write(interpreter, tmp_path):
    for token in ("short", "with space in it", "x" * 129):
        running = Server(interpreter, writes=True, log=tmp_path / "changes.log", token=token)
        try:
            code, message = error_of(running.post_limit(300, token=token))
            assert code == 403 and "http_token" in message
            assert running.limit() == 600
            assert running.changes() == []
        finally:
            running.stop()


BAD_WRITES = [
    ("not json", 400, b"{export_limit_w: 5"),
    ("not an object", 400, b"[300]"),
    ("float", 400, b'{"export_limit_w": 300.5}'),
    ("string", 400, b'{"export_limit_w": "300"}'),
    ("bool", 400, b'{"export_limit_w": true}'),
    ("extra key", 400, b'{"export_limit_w": 300, "x": 1}'),
    ("other key", 400, b'{"limit": 300}'),
    ("negative", 422, b'{"export_limit_w": -1}'),
    ("too high", 422, b'{"export_limit_w": 100001}'),
    ("huge", 422, b'{"export_limit_w": 100000000000000000000000}'),
    ("refused by the controller", 422, b'{"export_limit_w": 777}'),
    ("not utf-8", 400, b'{"export_limit_w": "\xff"}'),
]


def test_malformed_writes_change_nothing(server):
    auth = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}
    for name, expected, body in BAD_WRITES:
        code, message = error_of(server.request("POST", "/api/limit", body=body, headers=auth))
        assert code == expected, (name, code, message)
    assert server.limit() == 600
    assert server.changes() == []


def test_wrong_paths_and_methods(server):
    assert error_of(server.request("GET", "/nope"))[0] == 404
    assert error_of(server.request("GET", "/api/status/x"))[0] == 404
    code, headers, _ = server.request("DELETE", "/api/status")
    assert code == 405 and headers["Allow"] == "GET"
    code, headers, _ = server.request("GET", "/api/limit")
    assert code == 405 and headers["Allow"] == "POST"
    assert server.request("PUT", "/api/limit", body=b'{"export_limit_w": 1}')[0] == 405
    assert server.limit() == 600


RAW_REQUESTS = [
    ("garbage line", 400, b"HELLO\r\n\r\n"),
    ("relative path", 400, b"GET api/status HTTP/1.1\r\n\r\n"),
    ("HTTP/2", 400, b"GET / HTTP/2.0\r\n\r\n"),
    ("bad header", 400, b"GET / HTTP/1.1\r\nno colon here\r\n\r\n"),
    ("not utf-8 head", 400, b"GET /\xff\xfe HTTP/1.1\r\n\r\n"),
    ("bad length", 400, b"POST /api/limit HTTP/1.1\r\nContent-Length: -5\r\n\r\n"),
    ("no length", 411, b"POST /api/limit HTTP/1.1\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n\r\n"),
    ("body too large", 413, b"POST /api/limit HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000),
    ("head too large", 431, b"GET / HTTP/1.1\r\nX-Fill: " + b"a" * 3000 + b"\r\n\r\n"),
]


def read_answer(client):
    answer = b""
    while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < announced_length(answer):
        chunk = client.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def announced_length(answer):
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            return int(value)
    raise AssertionError("no Content-Length in %r" % answer)


def status_of(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    code = int(head.split(b" ")[1])
    assert json.loads(body)["status"] == code
    return code


def test_malformed_requests_get_4xx(server):
    for name, expected, data in RAW_REQUESTS:
        assert status_of(server.raw(data)) == expected, name
    assert server.limit() == 600


def test_an_incomplete_request_times_out_and_the_server_moves_on(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
        slow.sendall(b"POST /api/limit HTTP/1.1\r\nContent-Length: 40\r\n\r\n{")
        started = time.monotonic()
        answer = read_answer(slow)
        assert time.monotonic() - started < 8
        assert status_of(answer) == 408
    assert server.limit() == 600


def test_a_slow_request_does_not_hold_up_the_next(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as first:
        first.sendall(b"GET /api/")  # takes one connection slot
        second = server.request("GET", "/api/status")  # another slot, answered while the first waits
        assert second[0] == 200
        assert status_of(read_answer(first)) == 408


SLOW_CLIENTS = 12  # four times the slots; a server serving one at a time would need 12 x 0.8 s


def test_many_slow_clients_cannot_lock_out_a_normal_request(server):
    slow = []
    try:
        for _ in range(SLOW_CLIENTS):
            connection = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            connection.sendall(b"GET /api/status HTTP/1.1\r\nHost: g")  # never finished
            slow.append(connection)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=4)
        connection.request("GET", "/api/status")
        assert connection.getresponse().status == 200
        connection.close()
        closed = 0
        for connection in slow:  # the ones that gave way were closed without an answer, the rest got a 408
            try:
                answer = read_answer(connection)
            except ConnectionResetError:  # closed with the request unread: a reset
                answer = b""
            closed += not answer
            assert not answer or status_of(answer) == 408
        assert closed >= 1  # at least one gave way to the normal request
    finally:
        for connection in slow:
            connection.close()


NODE_HARNESS = r"""
const status = JSON.parse(require("fs").readFileSync(0, "utf8"));
const calls = {lineTo: 0, moveTo: 0, stroke: 0, fillText: 0};
const ctx = new Proxy({}, {get: (t, name) => name in calls ? () => { calls[name]++; } : () => {},
                           set: () => true});
const elements = {};
global.document = {getElementById: (id) => elements[id] ||= {id, textContent: "", innerHTML: "", value: "",
                                                           width: 900, height: 260, getContext: () => ctx}};
global.fetch = (url) => Promise.resolve({json: () => Promise.resolve(status)});
global.setInterval = () => 0;
eval(SCRIPT);
setTimeout(() => {
  tick();
  setTimeout(() => {
    const text = {};
    for (const id in elements) text[id] = String(elements[id].textContent || elements[id].innerHTML);
    console.log(JSON.stringify({calls, text, points: H.length}));
  }, 50);
}, 50);
"""


def test_the_page_script_runs_and_draws(server):
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node (Debian package nodejs) to run the page's script")
    page = server.request("GET", "/")[2].decode()
    script = page.split("<script>")[1].split("</script>")[0]
    harness = NODE_HARNESS.replace("SCRIPT", json.dumps(script))
    status = server.request("GET", "/api/status")[2]
    done = subprocess.run([node, "-e", harness], input=status.decode(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["points"] == 2  # the first poll at load, then tick()
    assert result["calls"]["lineTo"] >= 3 and result["calls"]["stroke"] >= 4
    text = result["text"]
    assert text["mode"] == "regulating" and text["grid"] == "-123" and text["pv"] == "599" and text["limit"] == "600"
    assert "acked" in text["inv"] and "L2" in text["inv"]
    assert '"pv_wh":999000' in text["energy"]
