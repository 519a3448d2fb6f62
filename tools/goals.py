"""The issue's goals 1-4, checked on a table of results (scenario, controller, metrics).

(1) no peer is at least as good as ours on both over-limit energy and lost
yield (on a scenario with a meter dropout only peers that fail safe within 5 s
count); (2) among peers that harvest about as much (lost yield <= 1.5 x ours
+ 5 Wh) ours has the least over-limit energy, no more excursions over 5 s and
over 15 s, and no longer a longest excursion; (3) ours fails safe within 5 s
after a meter dropout; (4) ours loses at most 20 % of the oracle's production.
"""

PEERS = ("dpl", "ahoy", "hze", "simple")
FAILSAFE_S = 5.0
YIELD_FACTOR, YIELD_SLACK_WH = 1.5, 5.0
LOST_YIELD_SHARE = 0.20


def _failsafe_ok(result):
    return result["failsafe_reaction_s"] is not None and result["failsafe_reaction_s"] <= FAILSAFE_S


def check(rows, has_dropout):
    """rows: [(scenario, controller, metrics)]; has_dropout: {scenario: bool}.

    Returns [(scenario, goal number, ok, why)] for every scenario that has 'ours'.
    """
    by_scenario = {}
    for scenario, controller, result in rows:
        by_scenario.setdefault(scenario, {})[controller] = result
    verdicts = []
    for scenario, results in by_scenario.items():
        ours = results.get("ours")
        if ours is None:
            continue
        dropout = has_dropout.get(scenario, False)
        for peer in PEERS:
            other = results.get(peer)
            if other is None:
                continue
            counts = not dropout or _failsafe_ok(other)
            dominated = (other["export_over_limit_wh"] <= ours["export_over_limit_wh"]
                         and other["lost_yield_wh"] <= ours["lost_yield_wh"])
            verdicts.append((scenario, 1, not (counts and dominated),
                             "%s over %.3f Wh lost %.3f Wh vs ours %.3f / %.3f" % (
                                 peer, other["export_over_limit_wh"], other["lost_yield_wh"],
                                 ours["export_over_limit_wh"], ours["lost_yield_wh"])))
            if other["lost_yield_wh"] <= YIELD_FACTOR * ours["lost_yield_wh"] + YIELD_SLACK_WH:
                worse = [key for key in ("export_over_limit_wh", "excursions_over_5s", "excursions_over_15s",
                                         "longest_excursion_s") if ours[key] > other[key]]
                verdicts.append((scenario, 2, not worse, "vs %s: ours worse on %s" % (peer, ", ".join(worse))
                                 if worse else "vs %s" % peer))
        if dropout:
            verdicts.append((scenario, 3, _failsafe_ok(ours), "failsafe_reaction_s %s" % ours["failsafe_reaction_s"]))
        oracle = results.get("oracle")
        if oracle is not None:
            share = ours["lost_yield_wh"] / oracle["pv_produced_wh"] if oracle["pv_produced_wh"] else 0.0
            verdicts.append((scenario, 4, share <= LOST_YIELD_SHARE, "lost yield %.1f %% of the oracle's" % (
                100 * share)))
    return verdicts


def report(rows, has_dropout):
    """Printable lines: one summary per goal, then every failure."""
    verdicts = check(rows, has_dropout)
    if not verdicts:
        return ["goals: no results for 'ours'"]
    lines = []
    for goal in (1, 2, 3, 4):
        mine = [v for v in verdicts if v[1] == goal]
        failed = [v for v in mine if not v[2]]
        lines.append("goal %d: %s (%d checks, %d failed)" % (goal, "met" if not failed else "NOT met", len(mine),
                                                              len(failed)))
        lines.extend("  %s: %s" % (v[0], v[3]) for v in failed)
    return lines
