"""What the HTTP server knows of a request: its head, its JSON body, and whether it may write.

    method, path, headers = parse_head(head_bytes)    # HttpError(400) if malformed
    length = content_length(headers, room)            # -1 without the header; 400 / 413 if bad
    authorize(request, setting)                       # 403 writes off or no token, 401 wrong token
    document = json_body(request)                     # a dict; 411 / 400 otherwise

Every refusal is an HttpError carrying the status, a message for the user and
any extra header lines; the server answers it as JSON {"error", "status"}.
Network writes (the export limit, the settings page, commissioning) are off
unless the setting `http_writes` is true, and then need `Authorization:
Bearer <http_token>`; the token is compared in a time that tells nothing
about it. Allocation: the parsed strings of one request; none of it runs in
the control tick.
"""

import json

_TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="


class HttpError(Exception):
    def __init__(self, status, message, headers=""):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


class Request:
    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body


def tokens_equal(given, expected):
    """True if the tokens are equal, in a time that tells nothing about `expected`.

    Every character of `given` is compared, whatever the lengths and wherever
    they differ (no early return): the time depends only on the length of
    what the client sent, never on the token's length or on how much of it
    matched.
    """
    difference = len(given) ^ len(expected)
    size = len(expected) or 1
    padded = expected or "\0"
    for index in range(len(given)):
        difference |= ord(given[index]) ^ ord(padded[index % size])
    return difference == 0


def valid_token(token):
    """A token usable in a Bearer header: 8 to 128 characters of the RFC 6750 set."""
    if not isinstance(token, str) or not 8 <= len(token) <= 128:
        return False
    for char in token:
        if char not in _TOKEN_CHARS:
            return False
    return True


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


def authorize(request, setting):
    """Refuse a write unless network writes are on and the request carries the token."""
    if not setting("http_writes"):
        raise HttpError(403, "network writes are disabled (set http_writes over the REPL)")
    token = setting("http_token") or ""
    if not valid_token(token):
        raise HttpError(403, "no usable http_token is set (set one over the REPL)")
    given = request.headers.get("authorization", "")
    if given[:7].lower() != "bearer " or not tokens_equal(given[7:].strip(), token):
        raise HttpError(401, "missing or wrong bearer token", 'WWW-Authenticate: Bearer realm="export-manager"\r\n')


def json_body(request):
    """The request's body as a JSON object (a dict)."""
    if "content-length" not in request.headers:
        raise HttpError(411, "Content-Length required")
    try:
        document = json.loads(request.body)
    except (ValueError, UnicodeError):
        raise HttpError(400, "body is not JSON") from None
    if not isinstance(document, dict):
        raise HttpError(400, "body must be a JSON object")
    return document


def integer(document, key):
    """document[key] as an int (not a bool); HttpError(400) if missing or of another type."""
    value = document.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise HttpError(400, "%s must be an integer" % key)
    return value
