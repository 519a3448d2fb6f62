"""A tiny HTTP server: the live status page, its JSON, guarded writes and the settings page.

    GET  /                 the status page (status_page.py)
    GET  /api/status       the plant's state as JSON (lib/status/plant_status.py)
    POST /api/limit        {"export_limit_w": N} with `Authorization: Bearer <token>`
    GET  /settings         the settings page; with it GET and POST /api/settings
    POST /api/commission   and commissioning (http_settings.py, loaded only for these)

Network writes are off unless the setting `http_writes` is true, and then
need the setting `http_token` (set over the REPL; an empty token refuses
every write): http_request.authorize. The server never imports the config:
it takes a `setting(key)` callable (`cfg.get` on the device), a
`status(now_ms)` callable returning a dict, a `set_export_limit(watts)`
callable that applies a new limit (and raises ValueError to refuse it) and,
for the settings page, `settings`: a callable returning the object that
reads and changes the configuration (firmware/web_settings.py), or None for
no settings page, and `commission(minutes)`, which starts commissioning (or
None: the page's button then answers 501). Every bad request gets a 4xx status with a JSON body
{"error": "..."} and changes nothing: unknown path 404, wrong method 405,
bad request line, header or JSON 400, writes off 403, missing or wrong token
401, no Content-Length 411, too large 413/431, value out of range 422,
request not complete within `timeout_ms` 408.

Several connections (`slots`, 3 by default), `Connection: close`, all
sockets non-blocking. `poll(now_ms)` does a bounded amount of work per call,
so it runs from the service loop between control ticks: at most
ACCEPTS_PER_POLL accepts, each followed by one read of the new request,
then per open connection one receive of up to `max_request` bytes or one
flush of the answer. Slow clients cannot lock others out: a new connection
that finds every slot taken takes the one of the connection open longest
that is still reading (closing it), so a client that sends its request at
once is answered in the poll that accepts it, however many clients hold
connections open without finishing a request. A request not complete within `timeout_ms` of its
accept gets a 408, an answer the client does not read for `timeout_ms` is
abandoned. After an error answer given before the whole request was read, the
server reads and discards what the client still sends until it closes (or
`timeout_ms` passes): closing a socket with unread input sends a TCP reset,
which could destroy the answer.

Timing and allocation: an idle `poll()` (nothing pending) asks the poller
with `ipoll(0)` and allocates nothing on MicroPython. Each slot has one
preallocated buffer of `max_request` bytes: it holds the request, then
serves as the send buffer of the answer (outbox.py). The answer is never
built whole: a page goes out as slices of its constant pieces (at most 512
bytes each; in a frozen image they stay in flash), /api/status as JSON pieces of a snapshot taken when the request
completed (json_stream.py; the snapshot is a dict of small objects, the
Content-Length is counted from it first). A request allocates its parsed
strings and those small pieces. The settings modules (http_settings.py,
settings_page.py) are imported for a settings request and dropped after it.
The same code runs on the ESP32, the unix port and CPython (socket, select).
"""

import select
import socket
import sys

import json_stream
from compat import const, ticks_diff
from http_request import (  # noqa: F401 - valid_token: cfg_schema checks http_token with it
    HttpError,
    Request,
    authorize,
    content_length,
    integer,
    json_body,
    parse_head,
    valid_token,
)
from outbox import Outbox, would_block
from status_page import PAGE

_FREE = const(0)
_READING = const(1)
_SENDING = const(2)
_DRAINING = const(3)

MAX_REQUEST = const(1024)
SLOTS = const(3)
ACCEPTS_PER_POLL = const(8)  # with a backlog of 8: 80 new connections a second at 10 polls a second

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    422: "Unprocessable Content",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}

# path: the methods it answers to
ROUTES = {
    "/": "GET",
    "/api/status": "GET",
    "/api/limit": "POST",
    "/settings": "GET",
    "/api/settings": "GET POST",
    "/api/commission": "POST",
}
_SETTINGS_MODULES = ("http_settings", "settings_page")


class _Slot:
    """One connection: its socket, state and the buffer that holds the request, then the answer."""

    def __init__(self, size):
        self.buffer = bytearray(size)
        self.view = memoryview(self.buffer)
        self.out = Outbox(self.buffer)
        self.sock = None
        self.readinto = None
        self.state = _FREE
        self.opened_ms = 0  # when accepted: the oldest is evicted first
        self.t_ms = 0  # the last progress: the idle timeout runs from it
        self.length = 0
        self.head_end = -1
        self.body_length = -1
        self.consumed = False
        self.request = None

    def open(self, sock, now_ms):
        sock.setblocking(False)
        self.sock = sock
        self.readinto = getattr(sock, "recv_into", None) or sock.readinto
        self.state = _READING
        self.opened_ms = self.t_ms = now_ms
        self.length = 0
        self.head_end = -1
        self.body_length = -1
        self.consumed = False

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.readinto = None
        self.request = None
        self.out.clear()
        self.state = _FREE

    def receive(self, view):
        """Bytes read into `view`: > 0 data, 0 end of stream (or an error), -1 nothing there yet."""
        try:
            count = self.readinto(view)
        except OSError as error:
            return -1 if would_block(error) else 0
        return -1 if count is None else count


def _before(slot, other):
    """True if `slot` should give way before `other`: readers before senders, then the longest open."""
    sending = slot.state == _SENDING
    if sending != (other.state == _SENDING):
        return not sending
    return ticks_diff(slot.opened_ms, other.opened_ms) < 0


class StatusServer:
    def __init__(
        self,
        status,
        set_export_limit,
        setting,
        port=80,
        host="0.0.0.0",
        max_request=MAX_REQUEST,
        timeout_ms=3000,
        limit_range_w=(0, 1000000),
        slots=SLOTS,
        settings=None,
        commission=None,
    ):
        self._status = status
        self._set_export_limit = set_export_limit
        self._setting = setting
        self._settings = settings
        self._commission = commission
        self.timeout_ms = timeout_ms
        self.limit_range_w = limit_range_w
        self._slots = [_Slot(max_request) for _ in range(slots)]
        self.served = 0  # 2xx responses
        self.errors = 0  # 4xx/5xx responses
        self.writes = 0  # export limits changed over the network
        self.evicted = 0  # connections closed to make room for a new one
        # A write ends the pass: the firmware applies the change between two passes (it is posted,
        # never applied in the service job), so a request read after the write's answer sees it.
        self._wrote = False
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(socket.getaddrinfo(host, port)[0][-1])
        listener.listen(ACCEPTS_PER_POLL)
        listener.setblocking(False)
        self._listener = listener
        self._poller = select.poll()
        self._poller.register(listener, select.POLLIN)
        # ipoll (MicroPython) yields a reused tuple: an idle poll() allocates nothing.
        self._ready = getattr(self._poller, "ipoll", self._poller.poll)

    def close(self):
        for slot in self._slots:
            slot.close()
        self._poller.unregister(self._listener)
        self._listener.close()

    # --- the state machine -------------------------------------------------------

    def poll(self, now_ms):
        """Do a bounded step of work; returns True while a connection is open."""
        self._wrote = False
        for _ in self._ready(0):
            self._accept_all(now_ms)
            break
        return self._step_all(now_ms)

    def _step_all(self, now_ms):
        # No `for slot in list` here: its iterator adds 4 words to the frame, and a frame over
        # 11 words is heap-allocated (an idle poll must allocate nothing).
        busy = False
        for index in range(len(self._slots)):
            if self._wrote:
                return True
            busy = self._step(self._slots[index], now_ms) or busy
        return busy

    def _step(self, slot, now_ms):
        """One bounded step of one connection; False if the slot is free."""
        state = slot.state
        if state == _FREE:
            return False
        if state == _READING:
            self._read(slot, now_ms)
        elif state == _SENDING:
            self._send(slot, now_ms)
        else:
            self._drain(slot, now_ms)
        return True

    def _accept_all(self, now_ms):
        for _ in range(ACCEPTS_PER_POLL):
            if self._wrote or not self._accept(now_ms):
                return

    def _accept(self, now_ms):
        """Take one waiting connection and read its request at once; False if none waits.

        It gets a free slot, else the one of the connection open longest that is still
        reading (or draining), else the longest-open one that is sending.
        """
        try:
            sock, _ = self._listener.accept()
        except OSError:
            return False
        chosen = None
        for slot in self._slots:
            if slot.state == _FREE:
                chosen = slot
                break
            if chosen is None or _before(slot, chosen):
                chosen = slot
        if chosen.state != _FREE:
            chosen.close()
            self.evicted += 1
        chosen.open(sock, now_ms)
        self._read(chosen, now_ms)  # a request sent at once is answered before the next accept
        return True

    def _read(self, slot, now_ms):
        room = len(slot.buffer) - slot.length
        count = slot.receive(slot.view[slot.length :]) if room else -1
        if count == 0:
            slot.close()
            return
        if count > 0:
            slot.length += count
        try:
            request = self._complete(slot)
            if request is not None:
                self._respond(slot, self._handle(request, now_ms), now_ms)
            elif ticks_diff(now_ms, slot.t_ms) >= self.timeout_ms:
                raise HttpError(408, "request not complete in time")
        except HttpError as error:
            self._respond_error(slot, error, now_ms)
        except Exception as error:  # noqa: BLE001 - a broken provider must not stop the loop
            self._respond_error(slot, HttpError(500, "internal error: %r" % error), now_ms)

    def _complete(self, slot):
        """The request once it is all in the buffer, else None; HttpError when it cannot be served."""
        if slot.head_end < 0:
            end = bytes(slot.view[: slot.length]).find(b"\r\n\r\n")
            if end < 0:
                if slot.length == len(slot.buffer):
                    raise HttpError(431, "request head too large")
                return None
            slot.head_end = end + 4
            method, path, headers = parse_head(bytes(slot.view[:end]))
            slot.body_length = content_length(headers, len(slot.buffer) - slot.head_end)
            slot.request = Request(method, path, headers, b"")
        body_length = max(slot.body_length, 0)
        if slot.length < slot.head_end + body_length:
            return None
        request = slot.request
        request.body = bytes(slot.view[slot.head_end : slot.head_end + body_length])
        slot.consumed = slot.length == slot.head_end + body_length
        return request

    def _send(self, slot, now_ms):
        before = slot.out.sent
        try:
            done = slot.out.flush(slot.sock)
        except OSError:
            slot.close()
            return
        if slot.out.sent != before:
            slot.t_ms = now_ms
        if done:
            if slot.consumed:
                slot.close()
            else:
                slot.state = _DRAINING
        elif ticks_diff(now_ms, slot.t_ms) >= self.timeout_ms:
            slot.close()

    def _drain(self, slot, now_ms):
        count = slot.receive(slot.view)
        if count == 0 or ticks_diff(now_ms, slot.t_ms) >= self.timeout_ms:
            slot.close()

    # --- requests ----------------------------------------------------------------

    def _handle(self, request, now_ms):
        """(status, content type, body: bytes, pieces or a JSON-ready document, extra headers)."""
        allowed = ROUTES.get(request.path)
        if allowed is None:
            raise HttpError(404, "no such path: use /, /api/status, /api/limit or /settings")
        if request.method not in allowed.split():
            methods = ", ".join(allowed.split())
            raise HttpError(405, "use %s for %s" % (methods, request.path), "Allow: %s\r\n" % methods)
        if request.path == "/":
            return 200, "text/html; charset=utf-8", PAGE, ""
        if request.path == "/api/status":
            return 200, "application/json", self._status(now_ms), ""
        if request.path == "/api/limit":
            return 200, "application/json", self._write_limit(request), ""
        return self._settings_request(request)

    def _write_limit(self, request):
        authorize(request, self._setting)
        document = json_body(request)
        if list(document.keys()) != ["export_limit_w"]:
            raise HttpError(400, 'body must be {"export_limit_w": <integer watts>}')
        value = integer(document, "export_limit_w")
        low, high = self.limit_range_w
        if not low <= value <= high:
            raise HttpError(422, "export_limit_w must be within %d..%d W" % (low, high))
        try:
            self._set_export_limit(value)
        except (ValueError, TypeError) as error:
            raise HttpError(422, "refused: %s" % error) from None
        self.writes += 1
        self._wrote = True
        return {"export_limit_w": value}

    def _settings_request(self, request):
        """The settings page and its API: http_settings.py, imported for this request and dropped after it."""
        if self._settings is None:
            raise HttpError(404, "this gateway has no settings page")
        import http_settings

        try:
            content_type, body = http_settings.handle(request, self._settings, self._setting, self._commission)
        finally:
            for name in _SETTINGS_MODULES:
                sys.modules.pop(name, None)
        if request.method == "POST":
            self.writes += 1
            self._wrote = True
        return 200, content_type, body, ""

    def _respond_error(self, slot, error, now_ms):
        self._respond(slot, (error.status, "application/json", {"error": error.message, "status": error.status},
                             error.headers), now_ms)

    def _respond(self, slot, response, now_ms):
        status, content_type, body, headers = response
        if status >= 400:
            self.errors += 1
        else:
            self.served += 1
        if isinstance(body, tuple):  # a page: its constant pieces
            length = 0
            for piece in body:
                length += len(piece)
            pieces = body
        elif isinstance(body, (bytes, bytearray)):
            length = len(body)
            pieces = (body,)
        else:
            length = json_stream.size(body)
            pieces = json_stream.pieces(body)
        head = "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nCache-Control: no-store\r\n%s" \
            "Connection: close\r\n\r\n" % (status, REASONS.get(status, ""), content_type, length, headers)
        slot.out.clear()
        slot.out.stream(head.encode(), pieces)
        slot.t_ms = now_ms
        slot.state = _SENDING
        self._send(slot, now_ms)
