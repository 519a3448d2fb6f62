"""A new inverter list without a reset: a new Fleet, Controller and links, swapped in between two ticks.

    why = relist.refused(app, settings)       # REPL side (changes.py): None, or why the list needs a reset
    relist.swap(app, settings, now_ms)        # posted by changes.py: runs between two ticks, never inside one
    relist.startup_limit(app, pct, now_ms)    # startup_limit_pct changed (posted too)

The Fleet, the controller's tables and the links are sized by the number of
inverters, so a new list gets new ones (wiring.inverters, the same code as
at boot), built and swapped in by one scheduled callback: no tick and no
radio step runs in between, and none sees a half-built table. The radios
themselves are kept (wiring._radio_service with the running service), and
a CMT2300A link keeps its airtime account. The new controller then takes
one step on a reading that is never valid: every inverter, old or new, is
sent its fail-safe limit first, as at boot, and regulation starts from
there at the next tick. What was learned about the inverters' response
starts afresh. The supervisor learns how many inverters there are (none:
no trip; the first ones added get a whole `excursion_trip_s` to act).

With a DTU bridge (dtu_type) or SunSpec inverters the list still applies
after cfg.save() and a reset: their links hold subscriptions or a shared
Modbus transaction that a swap between ticks cannot hand over safely.

`startup_limit_pct` is here too, as it concerns the same links: one
persistent limit per Hoymiles inverter on the gateway's radios, its
percentage of the row's `rated_w` (at least the inverter's minimum), through
`configure_persistent_limit`, which refuses a second write to an inverter
within a day (hm_link.PERSIST_MIN_INTERVAL_MS, kept in RAM: only a change
of the setting sends one, never a boot).

Runs outside the tick (REPL context and a scheduled callback); allocates
freely; loaded only for a change and dropped after (changes.py).
"""



def refused(app, settings):
    """None when the new list can apply now, else why it waits for cfg.save() and a reset."""
    if settings["dtu_type"] != "none":
        return "with a DTU bridge (dtu_type %s)" % settings["dtu_type"]
    if app.sunspec is not None or any("sunspec_address" in row for row in settings["inverters"]):
        return "with SunSpec inverters"
    return None


def swap(app, settings, now_ms):
    """The new list in force, or a message why not (then the old one runs on)."""
    if refused(app, settings) is None:
        try:
            _swap(app, settings, now_ms)
        except (ValueError, OSError, MemoryError) as error:  # the builders load modules: the heap may be short
            print("app: the new inverter list is not in force, the old one runs on: %r" % error)


def _swap(app, settings, now_ms):
    """Build the new parts (this may raise: then nothing changed), then swap them in."""
    import wiring

    try:
        fleet, controller = wiring.inverters(settings, app.phases)
        links = tuple([] if app.make_links is None else app.make_links(fleet, settings))
        radio = app.radio
        if radio is not None or app.board.get("radio") or app.board.get("cmt"):
            radio = wiring._radio_service(app.board, fleet, settings, app, app.radio)
    finally:
        wiring.drop_builders()
    serials = [row["serial"] for row in settings["inverters"]]
    # The swap: from here nothing raises.
    app.fleet, app.serials, app.controller, app.links = fleet, serials, controller, links
    app.guard.controller = controller
    supervisor = app.supervisor
    if supervisor is not None:
        if not supervisor.inverters and fleet.count:
            supervisor.restart_excursion()  # the first inverters get the whole trip time to act
        supervisor.inverters = fleet.count
    _swap_radio(app, radio)
    status = getattr(app.online, "status", None)
    if status is not None:  # the page's and telemetry's view
        status.fleet, status.controller, status.radio = fleet, controller, app.radio
    controller.step(now_ms, app.guard.blind)  # fail-safe limits first, as at boot


def _swap_radio(app, radio):
    old = app.radio
    if old is None:
        app.radio = radio
        if radio is not None:
            radio.start()
    elif radio is None:
        old.link = old.second = None  # no Hoymiles inverter left: the timer idles
    else:
        old.link, old.second = radio.link, radio.second


def startup_limit(app, pct, now_ms):
    """Queue the startup (persistent) limit on every Hoymiles link; 0 writes none. Says what it did."""
    radio = app.radio
    if not pct:
        return
    fleet = app.fleet
    queued = skipped = 0
    for link in () if radio is None else (radio.link, radio.second):
        for slot in range(0 if link is None else link.count):
            row = link.row[slot]
            limit_dw = max(fleet.rated_dw[row] * pct // 100, fleet.min_dw[row])
            if link.configure_persistent_limit(row, limit_dw, now_ms) == 0:
                queued += 1
            else:
                skipped += 1
    print("app: startup limit %d %%: queued for %d inverter(s), %d skipped (written less than a day ago)" % (
        pct, queued, skipped))
