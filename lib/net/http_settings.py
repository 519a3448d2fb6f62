"""The settings page and its API: the configuration edited in a browser, with cfg's own checks.

    GET  /settings          the page (settings_page.py); it holds no data
    GET  /api/settings      every key, in cfg.show() order:
                            [key, kind, low or choices, high, unit, default, meaning, value, secret]
    POST /api/settings      {"key": k, "value": v} sets one key through cfg.set (its checks and
                            messages); {"save": true} keeps the configuration (cfg.save)
    POST /api/commission    {"minutes": N} starts commissioning: commission(minutes), 501 without it

Everything under /api needs network writes on and the token
(http_request.authorize), reading included: the configuration names the WiFi,
the broker and the inverters (the secrets are masked). `settings()` returns
the object that reads and changes the configuration; on the gateway it is
firmware/web_settings.py, which loads the schema only while it answers. A
value the configuration refuses is a 422 with cfg's message, a scheduler that
stays busy a 503; nothing changed then.

The server imports this module (and settings_page.py) for one settings
request and drops it after: a gateway whose settings page is not in use
keeps neither in RAM. It allocates the answer's rows (a few kB, sent as JSON
pieces).
"""

from http_request import HttpError, authorize, integer, json_body

_JSON = "application/json"


def handle(request, settings, setting, commission):
    """(content type, body) of a settings request; HttpError to refuse it."""
    if request.path == "/settings":
        from settings_page import PAGE

        return "text/html; charset=utf-8", PAGE
    authorize(request, setting)
    if request.path == "/api/commission":
        return _JSON, _commission(commission, json_body(request))
    api = settings()
    if request.method == "GET":
        return _JSON, api.rows()
    return _JSON, _change(api, json_body(request))


def _change(api, document):
    if document == {"save": True}:
        _apply(api.save)
        return {"saved": True}
    if sorted(document) != ["key", "value"] or not isinstance(document["key"], str):
        raise HttpError(400, 'body must be {"key": "<setting>", "value": <value>} or {"save": true}')
    key = document["key"]
    note = _apply(api.set, key, document["value"])
    return {"key": key, "note": note if isinstance(note, str) else None}


def _commission(commission, document):
    minutes = integer(document, "minutes")
    if len(document) != 1 or minutes < 1:
        raise HttpError(400, 'body must be {"minutes": <whole minutes, at least 1>}')
    if commission is None:
        raise HttpError(501, "this firmware has no commissioning mode (app.commission)")
    _apply(commission, minutes)
    return {"commission_min": minutes}


def _apply(function, *arguments):
    try:
        return function(*arguments)
    except (ValueError, TypeError) as error:
        raise HttpError(422, str(error)) from None
    except RuntimeError as error:
        raise HttpError(503, str(error)) from None
