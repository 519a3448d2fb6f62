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
    def __init__(self, runtime, writes, log, token=TOKEN, scenario="regulating"):
        self.port = free_port()
        self.log = log
        log.write_text("")
        if runtime == "micropython":
            command = [micropython_executable()]
            env = dict(os.environ, MICROPYPATH=SEARCH_PATH)
        else:
            command = [sys.executable, "-u"]
            env = dict(os.environ, PYTHONPATH=SEARCH_PATH)
        command += [str(SCRIPT), str(self.port), "1" if writes else "0", token, str(TIMEOUT_MS), str(log), scenario]
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
    assert status["reason"] is None and status["alarm"] is False  # 123 W export, 600 W allowed
    assert status["supervisor"] == {"state": "commissioning", "excursions": 1, "stage2": 0, "trips": 0,
                                    "lockout_s_left": 0, "lockout_reason": None, "commission_s_left": 1500,
                                    "clear": None}
    assert first["answers"] == 1 and first["missed"] is None and 0 <= first["last_contact_s"] < 200
    assert second["answers"] == 0 and second["last_contact_s"] is None
    assert server.request("GET", "/api/status?x=1")[0] == 200  # a query string is ignored


@pytest.mark.parametrize("interpreter", RUNTIMES)
def test_status_json_explains_a_lockout(interpreter, tmp_path):
    running = Server(interpreter, writes=False, log=tmp_path / "changes.log", scenario="lockout")
    try:
        status = running.status()
    finally:
        running.stop()
    assert status["mode"] == "failsafe" and status["reason"] == "supervisor trip (lockout)"
    assert status["alarm"] is True and status["grid"]["power_w"] == -568 and status["export_limit_w"] == 0
    held = status["supervisor"]
    assert held["state"] == "lockout" and held["lockout_reason"] == "too many stage-2 events"
    assert held["lockout_s_left"] == 14390 and held["clear"] == "app.reset_supervisor()" and held["trips"] == 1
    assert [row["missed"] for row in status["inverters"]] == [0, 4, None]


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


def settings_call(server, method, path="/api/settings", body=None, token=TOKEN):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = "Bearer " + token
    data = body if isinstance(body, bytes) or body is None else json.dumps(body)
    return server.request(method, path, body=data, headers=headers)


def test_settings_are_off_by_default(readonly_server):
    code, headers, body = readonly_server.request("GET", "/settings")
    assert code == 200 and headers["Content-Type"].startswith("text/html") and b"/api/settings" in body
    assert "http://" not in body.decode() and "https://" not in body.decode()
    for method, path, body in (("GET", "/api/settings", None), ("POST", "/api/settings", {"save": True}),
                               ("POST", "/api/commission", {"minutes": 30})):
        code, message = error_of(settings_call(readonly_server, method, path, body))
        assert code == 403 and "disabled" in message
    assert readonly_server.changes() == []


def test_settings_need_the_token(server):
    for token in (None, "wrong-token-123"):
        assert error_of(settings_call(server, "GET", token=token))[0] == 401
        change = {"key": "export_limit_w", "value": 5}
        assert error_of(settings_call(server, "POST", body=change, token=token))[0] == 401
        assert error_of(settings_call(server, "POST", "/api/commission", {"minutes": 5}, token=token))[0] == 401
    assert server.changes() == []


def test_settings_are_the_schema_of_cfg_with_its_values(server):
    code, headers, body = settings_call(server, "GET")
    assert code == 200 and headers["Content-Type"] == "application/json"
    rows = {row[0]: row for row in json.loads(body)}
    assert rows["export_limit_w"] == ["export_limit_w", "int", 0, 1000000, "W", 0,
                                      "grid export allowed (0 = zero export)", 0, False]
    assert rows["meter_baud"][2][:2] == [1200, 2400] and rows["invert"][1] == "bool"
    assert rows["http_token"][7:] == ["", True] and rows["inverters"][7] == []
    assert list(rows)[:3] == ["export_limit_w", "phase_export_limit_w", "meter_type"]  # cfg.show()'s order


def test_a_setting_goes_through_cfg_set_with_its_checks(server, tmp_path):
    code, _, body = settings_call(server, "POST", body={"key": "export_limit_w", "value": 300})
    answer = json.loads(body)  # the note is cfg.set's line: what changed and when it acts
    assert code == 200 and answer["key"] == "export_limit_w" and answer["note"].startswith("export_limit_w 0 -> 300 W;")
    assert server.changes() == ["set export_limit_w 300"]  # cfg's listeners: the posted-change path
    rows = {row[0]: row for row in json.loads(settings_call(server, "GET")[2])}
    assert rows["export_limit_w"][7] == 300
    refused = [
        ({"key": "export_limit_w", "value": -5}, 422, "export_limit_w = -5 is out of range: 0..1000000 W"),
        ({"key": "invert", "value": 1}, 422, "invert must be True or False, not 1"),
        ({"key": "ct_ratio", "value": "20"}, 422, "ct_ratio must be an int"),
        ({"key": "no_such_key", "value": 1}, 422, "unknown key 'no_such_key'"),
        ({"key": "export_limit_w"}, 400, 'body must be {"key"'),
        ({"key": 5, "value": 5}, 400, 'body must be {"key"'),
        (b"{key", 400, "body is not JSON"),
        (b"[1]", 400, "body must be a JSON object"),
    ]
    for document, expected, message in refused:
        code, text = error_of(settings_call(server, "POST", body=document))
        assert code == expected and text.startswith(message), (document, code, text)
    assert server.changes() == ["set export_limit_w 300"]
    code, _, body = settings_call(server, "POST", body={"save": True})
    assert code == 200 and json.loads(body) == {"saved": True}
    assert server.changes()[-1] == "save"
    saved = json.loads((server.log.parent / "config.json").read_text())
    assert saved["export_limit_w"] == 300


def test_commissioning_starts_from_the_page(server):
    code, _, body = settings_call(server, "POST", "/api/commission", {"minutes": 30})
    assert code == 200 and json.loads(body) == {"commission_min": 30}
    assert server.changes() == ["commission 30"]
    for document in ({"minutes": 0}, {"minutes": "30"}, {"minutes": True}, {"minutes": 30, "x": 1}, {}):
        assert error_of(settings_call(server, "POST", "/api/commission", document))[0] == 400, document
    code, message = error_of(settings_call(server, "POST", "/api/commission", {"minutes": 5000}))
    assert code == 422 and "1..1440" in message  # the refusal of the commissioning side
    assert server.changes() == ["commission 30"]


def test_settings_paths_and_methods(server):
    code, headers, _ = settings_call(server, "DELETE")
    assert code == 405 and headers["Allow"] == "GET, POST"
    code, headers, _ = settings_call(server, "GET", "/api/commission")
    assert code == 405 and headers["Allow"] == "POST"
    assert error_of(server.request("POST", "/settings", body=b"{}"))[0] == 405
