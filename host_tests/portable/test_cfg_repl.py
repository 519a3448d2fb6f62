"""The REPL configuration API: every bad input is refused with its reason, and nothing changes."""

import os

import cfg
from test_cfgstore_lfs import RamFlash
from testkit import raises

MOUNT = "/lfs_cfg_repl"


def _fresh_dir():
    """An empty directory: a RAM LittleFS on MicroPython, a temporary directory on CPython."""
    if hasattr(os, "VfsLfs2"):
        try:
            os.umount(MOUNT)
        except OSError:
            pass
        flash = RamFlash()
        os.VfsLfs2.mkfs(flash)
        os.mount(os.VfsLfs2(flash), MOUNT)
        return MOUNT
    import tempfile

    return tempfile.mkdtemp()


def _fresh(saved=None):
    directory = _fresh_dir()
    path = directory + "/config.json"
    if saved is not None:
        with open(path, "wb") as file:
            file.write(saved)
    cfg.forget_listeners()
    warnings = cfg.load(path)
    return path, warnings


def _snapshot():
    return {key: value if not isinstance(value, list) else list(value) for key, value in cfg.values().items()}


BAD = (
    ("export_limit_w", "600", TypeError, "must be an int"),
    ("export_limit_w", 600.0, TypeError, "must be an int"),
    ("export_limit_w", True, TypeError, "must be an int"),
    ("export_limit_w", None, TypeError, "must be an int"),
    ("export_limit_w", -1, ValueError, "0..1000000 W"),
    ("export_limit_w", 1000001, ValueError, "0..1000000 W"),
    ("control_period_ms", 99, ValueError, "100..2000 ms"),
    ("failsafe_ms", 60001, ValueError, "1000..60000 ms"),
    ("meter_address", 0, ValueError, "1..247"),
    ("meter_address", 248, ValueError, "1..247"),
    ("meter_baud", 9601, ValueError, "one of 1200"),
    ("meter_baud", "9600", ValueError, "one of 1200"),
    ("meter_parity", "X", ValueError, "one of 'N', 'E', 'O'"),
    ("meter_stop_bits", 3, ValueError, "one of 1, 2"),
    ("meter_type", "dtsu", ValueError, "'dtsu666'"),
    ("export_limt_w", 600, ValueError, "unknown key 'export_limt_w'"),
    ("inverters", {"serial": "114182000001"}, TypeError, "a list of at most 16"),
    ("inverters", [{"serial": "1141", "rated_w": 800}], ValueError, "12 digits"),
    ("inverters", [{"serial": "114182000001", "rated_w": 0}], ValueError, "rated_w must be an int in 1..5000"),
    ("inverters", [{"serial": "114182000001", "rated_w": 800, "phase": 4}], ValueError, "phase must be"),
    ("inverters", [{"serial": "114182000001", "rated_w": 800, "colour": 1}], ValueError, "unknown field 'colour'"),
    (
        "inverters",
        [{"serial": "114182000001", "rated_w": 800}, {"serial": "114182000001", "rated_w": 600}],
        ValueError,
        "listed twice",
    ),
)


def test_every_bad_input_names_the_key_and_range_and_changes_nothing():
    _fresh()
    heard = []
    cfg.on_change(lambda key, value, text: heard.append(key))
    cfg.set("export_limit_w", 800)
    heard.clear()
    before = _snapshot()
    for key, value, kind, text in BAD:
        error = raises(kind, cfg.set, key, value)
        message = str(error)
        assert text in message, "%s=%r: %r lacks %r" % (key, value, message, text)
        assert key.split("[")[0] in message
        assert _snapshot() == before, "%s=%r changed the configuration" % (key, value)
    assert heard == []
    raises(ValueError, cfg.get, "no_such_key")


def test_a_good_value_is_live_at_once_and_kept_only_after_save():
    path, _ = _fresh()
    heard = []
    cfg.on_change(lambda key, value, text: heard.append((key, value, text)))
    cfg.set("export_limit_w", 600)
    assert cfg.get("export_limit_w") == 600
    assert heard == [("export_limit_w", 600, "export_limit_w 0 -> 600 W")]
    cfg.set("export_limit_w", 600)  # the value it has: nothing changes, nobody is told
    assert len(heard) == 1
    cfg.load(path)  # a reboot before save(): not kept
    assert cfg.get("export_limit_w") == 0
    cfg.set("export_limit_w", 600)
    cfg.set("inverters", [{"serial": "114182000001", "rated_w": 800, "phase": 2, "inputs": 2}])
    cfg.save()
    assert cfg.load(path) == []
    assert cfg.get("export_limit_w") == 600
    assert cfg.get("inverters")[0]["rated_w"] == 800


def test_reset_restores_defaults_and_tells_the_listeners():
    path, _ = _fresh()
    cfg.set("export_limit_w", 600)
    cfg.set("meter_baud", 19200)
    heard = []
    cfg.on_change(lambda key, value, text: heard.append((key, value)))
    cfg.reset()
    assert _snapshot() == cfg.defaults()
    assert ("export_limit_w", 0) in heard and ("meter_baud", 9600) in heard
    assert len(heard) == 2


def test_a_change_says_old_and_new_in_words_and_hides_secrets():
    _fresh()
    heard = []
    cfg.on_change(lambda key, value, text: heard.append(text))
    cfg.set("meter_parity", "E")
    cfg.set("invert", True)
    cfg.set("wifi_password", "hunter22")
    cfg.set("inverters", [{"serial": "114182000001", "rated_w": 800}, {"serial": "114182000002", "rated_w": 600}])
    cfg.set("inverters", [{"serial": "114182000002", "rated_w": 700}, {"serial": "114182000003", "rated_w": 600}])
    assert heard == [
        "meter_parity 'N' -> 'E'",
        "invert False -> True",
        "wifi_password set",
        "inverters 0 -> 2 (+114182000001, +114182000002)",
        "inverters 2 -> 2 (+114182000003, -114182000001, ~114182000002)",
    ]
    assert "hunter22" not in "".join(heard)


def test_the_startup_limit_is_a_percentage_with_its_wear_warning():
    _fresh()
    import cfg_schema

    spec = cfg_schema.SCHEMA["startup_limit_pct"]
    assert (spec[2], spec[3], spec[4], spec[5]) == (0, 100, "% of rating", 0)
    assert "flash" in spec[6] and "once a day" in spec[6]
    cfg.set("startup_limit_pct", 50)
    raises(ValueError, cfg.set, "startup_limit_pct", 101)


def test_a_missing_file_gives_defaults_and_a_warning():
    _, warnings = _fresh()
    assert _snapshot() == cfg.defaults()
    assert len(warnings) == 1 and "no saved configuration" in warnings[0]


def test_a_corrupt_file_gives_defaults_and_a_warning():
    for text in (b'{"export_limit_w": 6', b"[1, 2]", b"\xff\xfe\x00", b""):
        _, warnings = _fresh(text)
        assert _snapshot() == cfg.defaults()
        assert len(warnings) == 1 and "corrupt" in warnings[0], warnings


def test_a_saved_value_out_of_range_falls_back_to_its_default_alone():
    _, warnings = _fresh(b'{"export_limit_w": 600, "meter_address": 999, "retired_key": 1}')
    assert cfg.get("export_limit_w") == 600
    assert cfg.get("meter_address") == 1
    assert len(warnings) == 2
    assert "meter_address" in warnings[0] or "meter_address" in warnings[1]


def test_the_first_use_at_the_repl_reads_the_saved_file_so_save_keeps_it():
    # The application did not run (e.g. /nostart): cfg must not save defaults over the file.
    path, _ = _fresh()
    cfg.set("meter_address", 7)
    cfg.save()
    cfg._store = None
    cfg.PATH, saved_path = path, cfg.PATH
    try:
        cfg.set("export_limit_w", 600)
        assert cfg.get("meter_address") == 7
    finally:
        cfg.PATH = saved_path
