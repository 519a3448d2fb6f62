"""The parts of the gateway only some configurations have: wiring.py imports this module only for them.

    network(app, settings)   WiFi and NTP (netclock), MQTT and HTTP (online, plant_status), the DTU bridge
    cmt_link(...)            the HMS/HMT link on a CMT2300A

RAM: kept apart from wiring.py because every name a loaded .mpy module uses is interned when it loads, and an
interned string stays for good: a gateway without these parts does not carry their names. Needed only at boot;
wiring.py drops it from sys.modules afterwards. Allocates freely; never runs in the tick.
"""

import machine

_DTU_PREFIXES = {"opendtu": "solar", "ahoydtu": "inverter"}


def network(app, settings):
    """WiFi and NTP when an SSID is set or a network part needs them; MQTT and HTTP when configured."""
    if settings["mqtt_server"] or settings["http_enabled"]:
        from online import Online
        from plant_status import PlantStatus

        status = PlantStatus(app.reading, app.fleet, app.controller, app.meter, app.energy, app.pv_reading,
                             app.supervisor, app.guard, app.radio)
        app.online = Online(settings, status, app.set_export_limit, settings.get,
                            make_bridge=lambda session: _bridge(session, app.fleet, settings),
                            commission=getattr(app, "commission", None))
    if settings["wifi_ssid"] or app.online is not None:
        from netclock import NetClock

        app.net = NetClock(settings["wifi_ssid"], settings["wifi_password"], settings["ntp_server"])


def _bridge(session, fleet, settings):
    """The OpenDTU or AhoyDTU bridge over the MQTT session: the link for every inverter but the SunSpec ones
    (they are on the gateway's bus); None without a DTU or without a row for it."""
    dtu = settings["dtu_type"]
    rows = settings["inverters"]
    if dtu == "none" or all("sunspec_address" in row for row in rows):
        return None
    import mqtt_bridge

    ids = []
    names = []
    for row in rows:
        on_dtu = "sunspec_address" not in row
        # AhoyDTU numbers its inverters 0, 1, ... in its own list, which holds only the bridged rows.
        number = str(len(ids) - ids.count(None))
        ids.append(row.get("dtu_id", row["serial"] if dtu == "opendtu" else number) if on_dtu else None)
        names.append(row.get("dtu_name") if on_dtu else "")
    if dtu == "opendtu":
        names = None
    elif None in names:
        raise ValueError("ahoydtu: every inverter row needs its dtu_name (the name set in AhoyDTU)")
    return mqtt_bridge.DtuBridge(
        session, fleet, mqtt_bridge.OPENDTU if dtu == "opendtu" else mqtt_bridge.AHOYDTU,
        settings["dtu_prefix"] or _DTU_PREFIXES[dtu], ids, names, ack_timeout_ms=settings["dtu_ack_timeout_ms"],
    )


def cmt_link(pins, fleet, settings, dtu, clock_s2000, count, running=None):
    """The HMS/HMT link for `count` inverters on a CMT2300A (board key "cmt": sclk, sdio, csb, fcsb, gpio3 or
    null); wiring.py adds the inverters.

    Raises ValueError for a frequency outside the region's legal range (hm_band.Band). With `running` (the
    running link): on its radio and band, with its airtime account (the duty cycle runs on), not set up again.
    """
    import hm_link

    if running is not None:
        link = hm_link.HoymilesLink(fleet, running.radio, dtu, clock_s2000, max_inverters=count, band=running.band)
        link.airtime = running.airtime
        return link
    import time

    import cmt2300a
    import hm_band

    band = hm_band.Band(settings["cmt_region"], settings["cmt_frequency_mhz"])
    pin = machine.Pin
    spi3 = cmt2300a.Spi3(pin(pins["sclk"], pin.OUT, value=0), pin(pins["sdio"], pin.OUT, value=0),
                         pin(pins["csb"], pin.OUT, value=1), pin(pins["fcsb"], pin.OUT, value=1))
    irq = None if pins.get("gpio3") is None else pin(pins["gpio3"], pin.IN)
    radio = cmt2300a.CMT2300A(spi3, band.base_mhz, irq=irq, sleep_ms=getattr(time, "sleep_ms", None))
    radio.set_channel(band.channel)
    return hm_link.HoymilesLink(fleet, radio, dtu, clock_s2000, max_inverters=count, band=band)
