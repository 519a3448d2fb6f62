"""The HTTP server's pieces on both runtimes: request parsing, tokens, the status snapshot, idle cost."""

import sys

import allocs
import controller
import events
import fleet
import guard
import http_request
import http_status
import plant_status
import reading
import status_page
import supervisor
from fragment import fragment
from testkit import micropython_only, raises


def test_request_head_is_parsed():
    head = b"POST /api/limit?x=1 HTTP/1.1\r\nAuthorization:  Bearer t \r\nX-A:b"
    method, path, headers = http_request.parse_head(head)
    assert method == "POST" and path == "/api/limit"
    assert headers == {"authorization": "Bearer t", "x-a": "b"}


def test_bad_heads_are_400():
    for head in (
        b"GET / HTTP/1.1 extra",
        b"GET /",
        b"G3T / HTTP/1.1",
        b"GET x HTTP/1.1",
        b"GET / HTTP/2.0",
        b"GET / HTTP/1.1\r\nbroken",
        b"GET / HTTP/1.1\r\n folded: x",
        b"GET /\xc3\x28 HTTP/1.1",
    ):
        error = raises(http_request.HttpError, http_request.parse_head, head)
        assert error.status == 400, head


def test_content_length_is_checked_against_the_room_left():
    assert http_request.content_length({}, 100) == -1
    assert http_request.content_length({"content-length": "100"}, 100) == 100
    assert raises(http_request.HttpError, http_request.content_length, {"content-length": "101"}, 100).status == 413
    for bad in ("-1", "1e3", "", " 5", "9999999999"):
        assert raises(http_request.HttpError, http_request.content_length, {"content-length": bad}, 100).status == 400


def test_tokens():
    assert http_request.tokens_equal("abcdefgh", "abcdefgh")
    assert not http_request.tokens_equal("abcdefgx", "abcdefgh")
    assert not http_request.tokens_equal("abcdefg", "abcdefgh")
    assert http_request.valid_token("A-b.c_d~e+f/g=")
    for bad in (None, "", "short", "has space", "x" * 129, 12345678):
        assert not http_request.valid_token(bad)


class Spy:
    """A token that counts how many of its characters were read."""

    def __init__(self, text):
        self.text = text
        self.reads = 0

    def __len__(self):
        return len(self.text)

    def __getitem__(self, index):
        self.reads += 1
        return self.text[index]


def test_token_comparison_reads_all_of_the_given_token_whatever_the_lengths():
    for given in ("x", "abcdefg", "abcdefgh", "abcdefghi", "zzzzzzzzzzzzzzzz"):
        spy = Spy(given)
        assert http_request.tokens_equal(spy, "abcdefgh") == (given == "abcdefgh")
        assert spy.reads == len(given), given  # no early return on a length mismatch or a difference
    assert not http_request.tokens_equal("", "abcdefgh") and not http_request.tokens_equal("abcdefgh", "")


def test_watts_round_half_away_from_zero():
    assert [plant_status.watts(dw) for dw in (0, 4, 5, 14, 15, -4, -5, -15, -16)] == [0, 0, 1, 1, 2, 0, -1, -2, -2]


class _Controller:
    mode = 1
    export_limit_dw = -1
    load_dw = 5000
    limit_dw = 1234
    commands = 3


def test_snapshot_without_optional_parts():
    grid = reading.Reading(phases=1)
    table = fleet.Fleet(1)
    table.add(0, 600)
    status = plant_status.PlantStatus(grid, table).snapshot(1000)
    assert status["mode"] == "none" and status["export_limit_w"] is None
    assert status["grid"]["valid"] is False and status["grid"]["age_ms"] is None
    assert status["grid"]["phase_power_w"] == [0]
    assert status["pv_power_w"] == 0
    assert status["energy"] == {"import_wh": 0, "export_wh": 0}
    assert "meter" not in status
    assert status["inverters"][0]["output_w"] is None and status["inverters"][0]["command"] == "idle"


def test_snapshot_with_controller_and_pv_meter():
    grid = reading.Reading()
    grid.seq = 1
    grid.t_ms = 900
    pv = reading.Reading()
    pv.valid = True
    pv.power_dw = -25004
    table = fleet.Fleet(1)
    table.add(0, 600)
    table.report_output(0, 5000, 950)
    status = plant_status.PlantStatus(grid, table, _Controller(), pv_reading=pv).snapshot(1000)
    assert status["mode"] == "failsafe" and status["export_limit_w"] is None
    assert status["load_power_w"] == 500 and status["limit_total_w"] == 123 and status["commands"] == 3
    assert status["grid"]["age_ms"] == 100
    assert status["pv_power_w"] == 2500  # the PV meter, not the inverter reports
    assert status["inverters"][0]["output_w"] == 500 and status["inverters"][0]["output_age_ms"] == 50
    pv.valid = False
    assert plant_status.PlantStatus(grid, table, pv_reading=pv).snapshot(1000)["pv_power_w"] is None


def _held_by_a_trip(export_dw):
    """Real controller, supervisor and guard, stepped until an excursion of `export_dw` trips."""
    ring = events.EventRing(16)
    grid = reading.Reading()
    table = fleet.Fleet(2)
    table.add(0, 800)
    table.add(1, 600, phase=1)
    regulator = controller.Controller(table, export_limit_w=0)
    watch = supervisor.Supervisor(ring, 0, stage2_s=1, trip_s=2, lockout_s=3600)
    checks = guard.Guard(grid, "dtsu666", ring, regulator, watch)
    for second in range(4):
        now_ms = second * 1000
        grid.valid = True
        grid.seq += 1
        grid.t_ms = now_ms
        grid.power_dw = -export_dw
        checks.before_control(now_ms)
        regulator.step(now_ms, grid)
        checks.after_control(now_ms)
    return plant_status.PlantStatus(grid, table, regulator, supervisor=watch, guard=checks)


def test_snapshot_says_why_a_lockout_holds_the_plant_and_raises_the_alarm():
    loaded = "eventlog" in sys.modules
    status = _held_by_a_trip(5680).snapshot(3500)
    assert ("eventlog" in sys.modules) == loaded  # imported for the trip's name, and dropped again
    assert status["mode"] == "failsafe" and status["reason"] == "supervisor trip (lockout)"
    assert status["alarm"] is True  # 568 W export against a 0 W limit
    held = status["supervisor"]
    assert held["state"] == "lockout" and held["lockout_reason"] == "excursion too long"
    assert held["clear"] == "app.reset_supervisor()" and 3590 <= held["lockout_s_left"] <= 3600
    assert held["trips"] == 1 and held["excursions"] == 0 and held["stage2"] == 1  # the excursion goes on
    assert held["commission_s_left"] == 0


class _Watch:
    """A supervisor as the commissioning mode makes it (commission_left_s), and one from before."""

    lockout_left_s = 0
    in_excursion = True
    excursions = 4
    stage2_total = 1
    trips = 0
    trip_reason = 0

    def over_limit_dw(self, reading):
        return -reading.power_dw


class _Guard:
    failsafe_reason = 1  # an attribute here, a method in lib/control/guard.py: both are read


def test_snapshot_reads_commissioning_and_the_reason_duck_typed():
    grid = reading.Reading()
    grid.valid = True
    table = fleet.Fleet(0)
    watch = _Watch()
    regulator = _Controller()  # mode 1: failsafe
    status = plant_status.PlantStatus(grid, table, regulator, supervisor=watch, guard=_Guard()).snapshot(0)
    assert status["reason"] == "meter data missing" and status["alarm"] is False
    assert status["supervisor"] == {"state": "excursion", "excursions": 4, "stage2": 1, "trips": 0,
                                    "lockout_s_left": 0, "lockout_reason": None, "commission_s_left": 0,
                                    "clear": None}
    watch.commission_left_s = 1200
    grid.power_dw = -1
    status = plant_status.PlantStatus(grid, table, regulator, supervisor=watch, guard=_Guard()).snapshot(0)
    assert status["supervisor"]["state"] == "commissioning" and status["supervisor"]["commission_s_left"] == 1200
    assert status["alarm"] is True
    grid.valid = False  # no valid reading: no alarm, whatever the last value was
    assert plant_status.PlantStatus(grid, table, regulator, supervisor=watch).snapshot(0)["alarm"] is False
    regulator.mode = 2
    assert plant_status.PlantStatus(grid, table, regulator, supervisor=watch, guard=_Guard()).snapshot(0)[
        "reason"] is None  # regulating: no reason to give


class _Link:
    """What a Hoymiles link keeps per inverter: its slot per fleet row, polls missed in a row per slot."""

    slot_of_row = bytearray((1, 0xFF, 0))
    poll_failures = (3, 0)


class _Radio:
    """The radio service as the firmware has it: the HM link is the second (the CMT radio's)."""

    link = None
    second = _Link()


def test_inverter_rows_say_when_each_was_last_heard_and_what_it_missed():
    table = fleet.Fleet(3)
    for row in range(3):
        table.add(row, 800)
    table.report_output(0, 5000, 1000)
    table.command(0, 4000, 4000)
    table.sent(0, 4000)
    table.acked(0, 5000)  # heard last by its acknowledgement
    table.report_output(1, 5000, 2000)
    table.report_output(1, 5000, 2000)
    rows = plant_status.PlantStatus(reading.Reading(), table, radio=_Radio()).snapshot(9000)["inverters"]
    assert [row["last_contact_s"] for row in rows] == [4, 7, None]
    assert [row["answers"] for row in rows] == [1, 2, 0]
    assert [row["missed"] for row in rows] == [0, None, 3]  # row 1 is on no Hoymiles link (SunSpec, DTU)


def test_pages_are_pieces_a_fragmented_heap_has_room_for():
    import settings_page

    for page in (status_page.PAGE, settings_page.PAGE):
        assert max(len(piece) for piece in page) <= 512
        assert b"".join(page).endswith(b"</script></body></html>\n")


def test_commissioning_without_the_mode_is_501_and_changes_nothing():
    import http_settings

    headers = {"authorization": "Bearer abcdefgh", "content-length": "14"}
    request = http_request.Request("POST", "/api/commission", headers, b'{"minutes": 5}')
    setting = {"http_writes": True, "http_token": "abcdefgh"}.get
    assert raises(http_request.HttpError, http_settings.handle, request, None, setting, None).status == 501
    started = []
    assert http_settings.handle(request, None, setting, started.append) == ("application/json",
                                                                           {"commission_min": 5})
    assert started == [5]


def _server():
    return http_status.StatusServer(lambda now_ms: {}, lambda watts: None, {}.get, port=0, host="127.0.0.1")


def test_an_idle_server_does_nothing():
    server = _server()
    try:
        assert server.poll(0) is False
        assert server.served == 0 and server.errors == 0
    finally:
        server.close()


@micropython_only
def test_an_idle_poll_allocates_nothing():
    server = _server()
    try:
        allocs.assert_free(lambda: server.poll(0), 500)
    finally:
        server.close()


def _get(server, port, path):
    """One GET from a client in this process, the server polled meanwhile; the whole answer."""
    import socket
    import time

    answer = bytearray(12288)
    view = memoryview(answer)
    client = socket.socket()
    client.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    client.setblocking(False)
    filler = fragment(512)  # no kilobyte in one block; the page is 8.9 kB
    client.send(b"GET " + path + b" HTTP/1.0\r\n\r\n")
    got = 0
    for _ in range(2000):
        server.poll(0)
        count = client.readinto(view[got:])
        if count == 0:
            break
        if count:
            got += count
        else:
            time.sleep_ms(1)
    filler = None  # noqa: F841 - the heap is whole again
    client.close()
    return bytes(answer[:got])


@micropython_only
def test_a_fragmented_heap_still_serves_the_page_and_the_status():
    import random

    grid = reading.Reading()
    table = fleet.Fleet(4)
    for row in range(4):
        table.add(row, 800)
    status = plant_status.PlantStatus(grid, table)
    port = 20000 + random.getrandbits(12)
    server = http_status.StatusServer(status.snapshot, lambda watts: None, {}.get, port=port, host="127.0.0.1")
    try:
        page = _get(server, port, b"/")
        state = _get(server, port, b"/api/status")
    finally:
        server.close()
    assert page.startswith(b"HTTP/1.0 200 OK") and page.endswith(b"</html>\n"), page[:80]
    assert len(page.partition(b"\r\n\r\n")[2]) == sum(len(piece) for piece in status_page.PAGE) > 8000
    assert state.startswith(b"HTTP/1.0 200 OK") and state.endswith(b"}"), state[:80]
    assert b'"inverters": [{' in state
