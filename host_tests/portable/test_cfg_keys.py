"""The configuration keys of issues 7 and 8: text and switch kinds, secrets masked, inverter row fields."""

import cfg
from test_cfg_repl import _fresh
from testkit import raises

BAD = (
    ("mqtt_port", 0, ValueError, "1..65535"),
    ("mqtt_server", 5, ValueError, "text of 0..64"),
    ("mqtt_node_id", "", ValueError, "text of 1..32"),
    ("http_writes", 1, TypeError, "True or False"),
    ("http_enabled", "yes", TypeError, "True or False"),
    ("http_token", "short", ValueError, "8..128 characters"),
    ("http_token", "has spaces in it", ValueError, "8..128 characters"),
    ("dtu_serial", "1999abcdefgx", ValueError, "12 hex digits"),
    ("dtu_serial", "1999abcdef", ValueError, "12 hex digits"),
    ("dtu_type", "openDTU", ValueError, "'opendtu'"),
    ("radio_pa_level", 4, ValueError, "0..3"),
    ("stage2_events_max", 17, ValueError, "1..16"),
    ("lockout_h", 0, ValueError, "1..168 h"),
    ("energy_persist_min", 0, ValueError, "1..1440 min"),
    ("pv_meter_type", "sdm72", ValueError, "'none'"),
)

HOYMILES = {"serial": "114182000001", "rated_w": 800}


def test_every_bad_value_of_the_new_keys_is_refused_with_its_range():
    _fresh()
    before = dict(cfg.values())
    for key, value, kind, text in BAD:
        error = raises(kind, cfg.set, key, value)
        assert key in str(error) and text in str(error), (key, str(error))
    assert cfg.values() == before


def test_good_values_are_taken():
    _fresh()
    cfg.set("http_token", "a-long-random-string")
    cfg.set("http_writes", True)
    cfg.set("dtu_serial", "1999AbCdEf01")
    cfg.set("mqtt_server", "192.168.1.10")
    assert cfg.get("http_writes") is True and cfg.get("http_token") == "a-long-random-string"
    cfg.set("http_token", "")  # empty: no token, every network write refused
    assert cfg.get("http_token") == ""


def test_secrets_are_masked_in_show():
    _fresh()
    cfg.set("http_token", "a-long-random-string")
    cfg.set("mqtt_password", "hunter22")
    assert cfg.masked("http_token", cfg.get("http_token")) == "***"
    assert cfg.masked("wifi_password", "") == ""
    assert cfg.masked("mqtt_user", "me") == "me"
    lines = []
    import builtins

    original = builtins.print
    builtins.print = lambda *args, **kwargs: lines.append(" ".join(str(arg) for arg in args))
    try:
        cfg.show()
    finally:
        builtins.print = original
    text = "\n".join(lines)
    assert "a-long-random-string" not in text and "hunter22" not in text
    assert "http_token" in text and "'***'" in text


def test_inverter_rows_take_dtu_and_sunspec_fields():
    _fresh()
    rows = [
        dict(HOYMILES, dtu_id="0", dtu_name="garage"),
        {"serial": "SMA roof", "rated_w": 5000, "sunspec_address": 3},
    ]
    cfg.set("inverters", rows)
    assert cfg.get("inverters") == rows
    for row, text in (
        (dict(HOYMILES, dtu_name=""), "dtu_name must be text"),
        (dict(HOYMILES, sunspec_address=0), "sunspec_address must be an int in 1..247"),
        ({"serial": "SMA roof", "rated_w": 5000}, "12 digits"),
        (dict(HOYMILES, colour="red"), "unknown field"),
    ):
        error = raises(ValueError, cfg.set, "inverters", [row])
        assert text in str(error), str(error)
