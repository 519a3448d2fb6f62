"""A tiny HTTP status server: a live page, a JSON endpoint, one guarded write.

    GET  /             the status page (inline JS polls /api/status and draws
                       grid power, PV power and the export limit on a canvas)
    GET  /api/status   the plant's state as JSON (lib/status/plant_status.py)
    POST /api/limit    {"export_limit_w": N} with `Authorization: Bearer <token>`

Network writes are off unless the setting `http_writes` is true, and then
need the setting `http_token` (set over the REPL; an empty token refuses
every write). The server never imports the config: it takes a `setting(key)`
callable (`cfg.get` on the device), a `status(now_ms)` callable returning a
dict and a `set_export_limit(watts)` callable that applies a new limit (and
raises ValueError to refuse it). Every bad request gets a 4xx status with a
JSON body {"error": "..."} and changes nothing: unknown path 404, wrong
method 405, bad request line, header or JSON 400, writes off 403, missing or
wrong token 401, no Content-Length 411, too large 413/431, value out of
range 422, request not complete within `timeout_ms` 408.

One connection at a time, `Connection: close`. The sockets are non-blocking
and `poll(now_ms)` does a bounded amount of work per call, so it can run
from the main loop between control ticks: at most one accept, one receive
of up to `max_request` bytes, one send, one close. After an error answer
given before the whole request was read, the server reads and discards
what the client still sends until it closes (or `timeout_ms` passes): closing
a socket with unread input sends a TCP reset, which could destroy the answer.

Timing and allocation: an idle `poll()` (nothing pending) asks the poller
with `ipoll(0)` and allocates nothing on MicroPython. Serving a request
allocates its parsed strings, the JSON text and the response (a few KB, one
garbage collection's worth at most); the page itself is a constant.
The same code runs on the ESP32, the unix port and CPython (socket, select).
"""

import json
import select
import socket

from compat import const, ticks_diff

_IDLE = const(0)
_READING = const(1)
_SENDING = const(2)
_DRAINING = const(3)

MAX_REQUEST = const(1024)
_SEND_CHUNK = const(1024)
_EAGAIN = (11, 115)  # EAGAIN (unix, lwIP), EINPROGRESS

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
}

# path: the one method it answers to
ROUTES = {"/": "GET", "/api/status": "GET", "/api/limit": "POST"}
_TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="


class HttpError(Exception):
    def __init__(self, status, message, headers=""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def tokens_equal(given, expected):
    """Compare two tokens in a time that does not depend on where they differ."""
    if len(given) != len(expected):
        return False
    difference = 0
    for index in range(len(expected)):
        difference |= ord(given[index]) ^ ord(expected[index])
    return difference == 0


def valid_token(token):
    """A token usable in a Bearer header: 8 to 128 characters of the RFC 6750 set."""
    if not isinstance(token, str) or not 8 <= len(token) <= 128:
        return False
    for char in token:
        if char not in _TOKEN_CHARS:
            return False
    return True


def _is_eagain(error):
    return error.args and error.args[0] in _EAGAIN


class Request:
    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body


def parse_head(head):
    """Request line and headers (bytes up to the blank line) -> (method, path, headers)."""
    try:
        text = head.decode()
    except UnicodeError:
        raise HttpError(400, "request head is not UTF-8") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1].startswith("/"):
        raise HttpError(400, "bad request line")
    if parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
        raise HttpError(400, "only HTTP/1.0 and HTTP/1.1")
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise HttpError(400, "bad header line")
        headers[name.lower()] = value.strip()
    path = parts[1].split("?")[0]
    return parts[0], path, headers


def content_length(headers, room):
    """The body length a request announces; HttpError if bad or more than `room`."""
    text = headers.get("content-length")
    if text is None:
        return -1
    if not text.isdigit() or len(text) > 9:
        raise HttpError(400, "bad Content-Length")
    length = int(text)
    if length > room:
        raise HttpError(413, "request too large (at most %d bytes)" % room)
    return length


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
        page=None,
    ):
        self._status = status
        self._set_export_limit = set_export_limit
        self._setting = setting
        self.timeout_ms = timeout_ms
        self.limit_range_w = limit_range_w
        self.page = PAGE if page is None else page
        self._buffer = bytearray(max_request)
        self._view = memoryview(self._buffer)
        self._length = 0
        self._head_end = -1
        self._body_length = -1
        self._consumed = False
        self._state = _IDLE
        self._client = None
        self._t_ms = 0
        self._out = None
        self._out_pos = 0
        self.served = 0  # 2xx responses
        self.errors = 0  # 4xx/5xx responses
        self.writes = 0  # export limits changed over the network
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(socket.getaddrinfo(host, port)[0][-1])
        listener.listen(2)
        listener.setblocking(False)
        self._listener = listener
        self._poller = select.poll()
        self._poller.register(listener, select.POLLIN)
        # ipoll (MicroPython) yields a reused tuple: an idle poll() allocates nothing.
        self._ready = getattr(self._poller, "ipoll", self._poller.poll)

    def close(self):
        self._drop()
        self._poller.unregister(self._listener)
        self._listener.close()

    # --- the state machine -------------------------------------------------------

    def poll(self, now_ms):
        """Do a bounded step of work; returns True while a connection is open."""
        state = self._state
        if state == _IDLE:
            for _ in self._ready(0):
                self._accept(now_ms)
                break
        elif state == _READING:
            self._read(now_ms)
        elif state == _SENDING:
            self._send(now_ms)
        else:
            self._drain(now_ms)
        return self._state != _IDLE

    def _accept(self, now_ms):
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        client.setblocking(False)
        self._client = client
        self._readinto = getattr(client, "recv_into", None) or client.readinto
        self._length = 0
        self._head_end = -1
        self._body_length = -1
        self._consumed = False
        self._t_ms = now_ms
        self._state = _READING

    def _receive(self, view):
        """Bytes read into `view`: > 0 data, 0 end of stream, -1 nothing there yet."""
        try:
            count = self._readinto(view)
        except OSError as error:
            if _is_eagain(error):
                return -1
            return 0
        return -1 if count is None else count

    def _read(self, now_ms):
        room = len(self._buffer) - self._length
        count = self._receive(self._view[self._length :]) if room else -1
        if count == 0:
            self._drop()
            return
        if count > 0:
            self._length += count
        try:
            request = self._complete()
            if request is not None:
                self._respond(self._handle(request, now_ms), now_ms)
            elif ticks_diff(now_ms, self._t_ms) >= self.timeout_ms:
                raise HttpError(408, "request not complete in time")
        except HttpError as error:
            self._respond_error(error, now_ms)
        except Exception as error:  # noqa: BLE001 - a broken provider must not stop the loop
            self._respond_error(HttpError(500, "internal error: %r" % error), now_ms)

    def _complete(self):
        """The request once it is all in the buffer, else None; HttpError when it cannot be served."""
        buffer = self._buffer
        if self._head_end < 0:
            end = bytes(self._view[: self._length]).find(b"\r\n\r\n")
            if end < 0:
                if self._length == len(buffer):
                    raise HttpError(431, "request head too large")
                return None
            self._head_end = end + 4
            self._method, self._path, self._headers = parse_head(bytes(self._view[:end]))
            self._body_length = content_length(self._headers, len(buffer) - self._head_end)
        body_length = max(self._body_length, 0)
        if self._length < self._head_end + body_length:
            return None
        body = bytes(self._view[self._head_end : self._head_end + body_length])
        self._consumed = self._length == self._head_end + body_length
        return Request(self._method, self._path, self._headers, body)

    def _send(self, now_ms):
        out = self._out
        try:
            sent = self._client.send(out[self._out_pos : self._out_pos + _SEND_CHUNK])
        except OSError as error:
            if not _is_eagain(error):
                self._drop()
            elif ticks_diff(now_ms, self._t_ms) >= self.timeout_ms:
                self._drop()
            return
        if sent:
            self._out_pos += sent
            self._t_ms = now_ms
        if self._out_pos >= len(out):
            self._out = None
            if self._consumed:
                self._drop()
            else:
                self._state = _DRAINING

    def _drain(self, now_ms):
        count = self._receive(self._view)
        if count == 0 or ticks_diff(now_ms, self._t_ms) >= self.timeout_ms:
            self._drop()

    def _drop(self):
        if self._client is not None:
            try:
                self._client.close()
            except OSError:
                pass
        self._client = None
        self._out = None
        self._state = _IDLE

    # --- requests ----------------------------------------------------------------

    def _handle(self, request, now_ms):
        """(status, content type, body bytes, extra headers) for a complete request."""
        allowed = ROUTES.get(request.path)
        if allowed is None:
            raise HttpError(404, "no such path: use /, /api/status or /api/limit")
        if request.method != allowed:
            raise HttpError(405, "use %s for %s" % (allowed, request.path), "Allow: %s\r\n" % allowed)
        if request.path == "/":
            return 200, "text/html; charset=utf-8", self.page, ""
        if request.path == "/api/status":
            return 200, "application/json", json.dumps(self._status(now_ms)).encode(), ""
        return 200, "application/json", json.dumps(self._write_limit(request)).encode(), ""

    def _write_limit(self, request):
        if not self._setting("http_writes"):
            raise HttpError(403, "network writes are disabled (set http_writes over the REPL)")
        token = self._setting("http_token") or ""
        if not valid_token(token):
            raise HttpError(403, "no usable http_token is set (set one over the REPL)")
        given = request.headers.get("authorization", "")
        if given[:7].lower() != "bearer " or not tokens_equal(given[7:].strip(), token):
            raise HttpError(401, "missing or wrong bearer token", 'WWW-Authenticate: Bearer realm="export-manager"\r\n')
        if self._body_length < 0:
            raise HttpError(411, "Content-Length required")
        try:
            document = json.loads(request.body)
        except (ValueError, UnicodeError):
            raise HttpError(400, "body is not JSON") from None
        if not isinstance(document, dict) or list(document.keys()) != ["export_limit_w"]:
            raise HttpError(400, 'body must be {"export_limit_w": <integer watts>}')
        value = document["export_limit_w"]
        if not isinstance(value, int) or isinstance(value, bool):
            raise HttpError(400, "export_limit_w must be an integer (watts)")
        low, high = self.limit_range_w
        if not low <= value <= high:
            raise HttpError(422, "export_limit_w must be within %d..%d W" % (low, high))
        try:
            self._set_export_limit(value)
        except (ValueError, TypeError) as error:
            raise HttpError(422, "refused: %s" % error) from None
        self.writes += 1
        return {"export_limit_w": value}

    def _respond_error(self, error, now_ms):
        body = json.dumps({"error": error.message, "status": error.status}).encode()
        self._respond((error.status, "application/json", body, error.headers), now_ms)

    def _respond(self, response, now_ms):
        status, content_type, body, headers = response
        if status >= 400:
            self.errors += 1
        else:
            self.served += 1
        head = "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nCache-Control: no-store\r\n%s" % (
            status,
            REASONS.get(status, ""),
            content_type,
            len(body),
            headers,
        )
        self._out = memoryview(head.encode() + b"Connection: close\r\n\r\n" + body)
        self._out_pos = 0
        self._t_ms = now_ms
        self._state = _SENDING
        self._send(now_ms)


PAGE = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>export-manager</title>
<style>
body{font-family:sans-serif;margin:1em;max-width:60em}table{border-collapse:collapse}
td,th{padding:.2em .6em;text-align:right;border-bottom:1px solid #ddd}canvas{width:100%;height:260px}
.g{color:#c0392b}.p{color:#27ae60}.l{color:#2c3e50}#err{color:#c0392b}
</style></head><body>
<h1>export-manager</h1>
<p>Mode <b id="mode">?</b> &middot; grid <b class="g" id="grid">?</b> W &middot; PV <b class="p" id="pv">?</b> W
&middot; export limit <b class="l" id="limit">?</b> W <span id="err"></span></p>
<canvas id="c" width="900" height="260"></canvas>
<p><span class="g">&#9632; grid (+ import / &minus; export)</span> <span class="p">&#9632; PV</span>
<span class="l">&#9632; &minus;export limit</span></p>
<table id="inv"></table>
<p id="meter"></p><p id="energy"></p>
<details><summary>Change the export limit</summary>
<p>Needs <code>http_writes</code> on and the <code>http_token</code> set over the REPL.</p>
<input id="tok" type="password" placeholder="token"> <input id="lim" type="number" min="0" placeholder="W">
<button onclick="setLimit()">Set</button> <span id="res"></span></details>
<script>
var N=150,H=[],c=document.getElementById("c"),x=c.getContext("2d");
function $(i){return document.getElementById(i)}
function draw(){var w=c.width,h=c.height,lo=0,hi=100;x.clearRect(0,0,w,h);
H.forEach(function(s){[s.g,s.p,s.l].forEach(function(v){if(v!==null){lo=Math.min(lo,v);hi=Math.max(hi,v)}})});
var y=function(v){return h-4-(v-lo)*(h-8)/(hi-lo)};x.strokeStyle="#999";x.beginPath();x.moveTo(0,y(0));
x.lineTo(w,y(0));x.stroke();x.fillStyle="#666";x.fillText(hi+" W",2,12);x.fillText(lo+" W",2,h-6);
[["g","#c0392b"],["p","#27ae60"],["l","#2c3e50"]].forEach(function(k){x.strokeStyle=k[1];x.beginPath();var m=0;
H.forEach(function(s,i){var v=s[k[0]];if(v===null){m=0;return}var px=i*w/(N-1);if(m)x.lineTo(px,y(v));
else x.moveTo(px,y(v));m=1});x.stroke()})}
function row(a){return"<tr>"+a.map(function(v){return"<td>"+(v===null?"-":v)+"</td>"}).join("")+"</tr>"}
function show(s){$("mode").textContent=s.mode;$("grid").textContent=s.grid.power_w;$("pv").textContent=s.pv_power_w;
$("limit").textContent=s.export_limit_w===null?"none":s.export_limit_w;
$("err").textContent=s.grid.valid?"":"(meter data invalid)";
H.push({g:s.grid.valid?s.grid.power_w:null,p:s.pv_power_w,l:s.export_limit_w===null?null:-s.export_limit_w});
if(H.length>N)H.shift();draw();
$("inv").innerHTML="<tr><th>#</th><th>phase</th><th>rated W</th><th>limit W</th><th>output W</th><th>command</th></tr>"+
s.inverters.map(function(i){return row([i.index,"L"+i.phase,i.rated_w,i.limit_w,i.output_w,i.command])}).join("");
$("meter").textContent=s.meter?"meter: "+JSON.stringify(s.meter):"";
$("energy").textContent="energy (Wh): "+JSON.stringify(s.energy)}
function tick(){fetch("/api/status").then(function(r){return r.json()}).then(show).catch(function(){
$("err").textContent="(no answer)"})}
function setLimit(){fetch("/api/limit",{method:"POST",headers:{"Authorization":"Bearer "+$("tok").value,
"Content-Type":"application/json"},body:JSON.stringify({export_limit_w:parseInt($("lim").value,10)})})
.then(function(r){return r.json()}).then(function(j){$("res").textContent=j.error||("set to "+j.export_limit_w+" W")})}
tick();setInterval(tick,3000);
</script></body></html>
"""
