"""Which inverter link each configured inverter gets: radio, SunSpec on the meter bus or a second bus, DTU bridge."""

import app
import cfg
import machine
import sunspec_link
from testkit import raises

BOARD = {"name": "test board", "meter_bus": {"uart": 2, "tx": 17, "rx": 16, "de": 4}}
RADIO = {"spi": 1, "sck": 18, "mosi": 23, "miso": 19, "csn": 5, "ce": 22, "irq": 21}
HOYMILES = {"serial": "114182000001", "rated_w": 800}
SUNSPEC = {"serial": "SMA roof", "rated_w": 5000, "sunspec_address": 3}


def _settings(**overrides):
    settings = cfg.defaults()
    settings["http_enabled"] = False
    settings.update(overrides)
    return settings


def _build(board, settings):
    machine.reset_hardware()
    machine.UART.wire(2, machine.Line(), de=4)
    machine.UART.wire(1, machine.Line(), de=None)
    return app.App(board, settings)


def test_a_sunspec_row_gets_the_sunspec_link_on_the_meter_bus():
    gateway = _build(BOARD, _settings(inverters=[HOYMILES, SUNSPEC]))
    link = gateway.sunspec
    assert isinstance(link, sunspec_link.SunSpecLink) and link in gateway.links
    assert link.master is gateway.master and link.count == 1 and link.row[0] == 1
    assert link.maps[0].address == 3 and link.revert_s == 60


def test_a_second_bus_needs_the_board_entry_and_gets_its_own_master():
    settings = _settings(inverters=[SUNSPEC], sunspec_bus="second")
    error = raises(ValueError, _build, BOARD, settings)
    assert "sunspec_bus" in str(error)
    board = dict(BOARD, sunspec_bus={"uart": 1, "tx": 25, "rx": 26, "de": None})
    gateway = _build(board, settings)
    assert gateway.sunspec.master is not gateway.master


def test_a_dtu_bridge_replaces_the_radio():
    settings = _settings(inverters=[HOYMILES], mqtt_server="127.0.0.1", dtu_type="opendtu")
    gateway = _build(dict(BOARD, radio=RADIO), settings)
    assert gateway.radio is None and gateway.online.bridge is not None
    assert gateway.online.bridge.limit_topics[0] == b"solar/114182000001/cmd/limit_nonpersistent_absolute"
    assert gateway.online.telemetry.bridge is gateway.online.bridge


def test_ahoydtu_needs_each_inverters_name():
    settings = _settings(inverters=[HOYMILES], mqtt_server="127.0.0.1", dtu_type="ahoydtu")
    error = raises(ValueError, _build, BOARD, settings)
    assert "dtu_name" in str(error)
    settings["inverters"] = [dict(HOYMILES, dtu_name="garage")]
    gateway = _build(BOARD, settings)
    assert gateway.online.bridge.limit_topics[0] == b"inverter/ctrl/limit/0"


def test_without_mqtt_or_http_no_network_module_is_built():
    gateway = _build(BOARD, _settings())
    assert gateway.online is None and gateway.sunspec is None
