"""The goals, checked on the results of every seed: [(scenario, controller, seed, metrics)].

(1) no peer is at least as good as ours on both over-limit energy and lost
yield (on a scenario with a meter dropout only peers that fail safe within 5 s
count); (2) among peers that harvest about as much (lost yield <= 1.5 x ours
+ 5 Wh) ours has the least over-limit energy, no longer a longest excursion,
and no more excursions over 5 s and over 15 s than a peer that spends no more
time over the limit (a peer over the limit for most of the run has few
excursions only because they merge into a few long ones); (3) ours fails safe within 5 s
of a meter dropout where the inverters' dead time is at most 3 s; (4) ours
loses at most 20 % of the oracle's production; (5) no excursion over 15 s where
the dead time is at most 3 s; (6) outside dropout scenarios ours loses at most
15 % of the oracle's production; (7) per-scenario bounds (slow-hm1500: lost
yield <= 50 Wh with over-limit energy <= 33 Wh). Each goal must hold in every
seed, so it holds in the worst one.
"""

from collections import namedtuple

PEERS = ("dpl", "dpl-tuned", "ahoy", "hze", "hze-literal", "simple")
FAILSAFE_S = 5.0
FAST_DEAD_TIME_S = 3.0  # goals 3 and 5 apply where every inverter's dead time is at most this
YIELD_FACTOR, YIELD_SLACK_WH = 1.5, 5.0
LOST_YIELD_SHARE = 0.20
LOST_YIELD_SHARE_NO_DROPOUT = 0.15
BOUNDS = {"slow-hm1500": (33.0, 50.0)}  # scenario: (over-limit Wh, lost yield Wh)
GOALS = (1, 2, 3, 4, 5, 6, 7)
# Goals no controller can meet on a scenario, and why (the report prints the bound).
# fleet-6-dropout: the missing sample is due 0.1 s after the dropout starts, six limit commands take 0.2 s each on
# the one radio (hm_link ends a command on the inverter's answer, measured at 0.1-0.2 s), and the last may act
# only after 4.5 s (3 s x 1.5): 0.1 + 1.2 + 4.5 = 5.8 s; with the fastest answers seen (0.1 s), 5.2 s.
PHYSICS = {("fleet-6-dropout", 3): "six 0.2 s commands on one radio, then up to 4.5 s of dead time"}

# What the goals need to know of a scenario: whether its meter drops out, its inverters' longest
# nominal dead time, and the earliest the fail-safe can be in force there (None without a dropout).
Facts = namedtuple("Facts", ("dropout", "dead_time_s", "physics_failsafe_s"))
NO_FACTS = Facts(False, 0.0, None)


def _failsafe_ok(result):
    return result["failsafe_reaction_s"] is not None and result["failsafe_reaction_s"] <= FAILSAFE_S


def _versus(scenario, ours, other, peer, dropout):
    counts = not dropout or _failsafe_ok(other)
    dominated = (other["export_over_limit_wh"] <= ours["export_over_limit_wh"]
                 and other["lost_yield_wh"] <= ours["lost_yield_wh"])
    verdicts = [(scenario, 1, not (counts and dominated), "%s over %.3f Wh lost %.3f Wh vs ours %.3f / %.3f" % (
        peer, other["export_over_limit_wh"], other["lost_yield_wh"], ours["export_over_limit_wh"],
        ours["lost_yield_wh"]))]
    if other["lost_yield_wh"] <= YIELD_FACTOR * ours["lost_yield_wh"] + YIELD_SLACK_WH:
        keys = ["export_over_limit_wh", "longest_excursion_s"]
        if other["seconds_over_limit"] <= ours["seconds_over_limit"]:
            keys += ["excursions_over_5s", "excursions_over_15s"]
        worse = [key for key in keys if ours[key] > other[key]]
        verdicts.append((scenario, 2, not worse, "vs %s: ours worse on %s" % (peer, ", ".join(worse))
                         if worse else "vs %s" % peer))
    return verdicts


def _own(scenario, ours, oracle, facts):
    verdicts = []
    fast = facts.dead_time_s <= FAST_DEAD_TIME_S
    if facts.dropout and fast:
        verdicts.append((scenario, 3, _failsafe_ok(ours), "failsafe_reaction_s %s" % ours["failsafe_reaction_s"]))
    if oracle is not None:
        share = ours["lost_yield_wh"] / oracle["pv_produced_wh"] if oracle["pv_produced_wh"] else 0.0
        why = "lost yield %.1f %% of the oracle's" % (100 * share)
        verdicts.append((scenario, 4, share <= LOST_YIELD_SHARE, why))
        if not facts.dropout:
            verdicts.append((scenario, 6, share <= LOST_YIELD_SHARE_NO_DROPOUT, why))
    if fast:
        verdicts.append((scenario, 5, ours["excursions_over_15s"] == 0,
                         "%d excursions over 15 s" % ours["excursions_over_15s"]))
    if scenario in BOUNDS:
        over_wh, lost_wh = BOUNDS[scenario]
        verdicts.append((scenario, 7, ours["export_over_limit_wh"] <= over_wh and ours["lost_yield_wh"] <= lost_wh,
                         "over %.1f Wh (<= %g), lost %.1f Wh (<= %g)" % (
                             ours["export_over_limit_wh"], over_wh, ours["lost_yield_wh"], lost_wh)))
    return verdicts


def check(rows, facts):
    """rows: [(scenario, controller, seed, metrics)]; facts: {scenario: Facts}.

    Returns [(scenario, goal number, ok, why)] for every scenario and seed that has 'ours'
    (the seed is in `why`).
    """
    runs = {}
    for scenario, controller, seed, result in rows:
        runs.setdefault((scenario, seed), {})[controller] = result
    verdicts = []
    for (scenario, seed), results in runs.items():
        ours = results.get("ours")
        if ours is None:
            continue
        known = facts.get(scenario, NO_FACTS)
        mine = []
        for peer in PEERS:
            if peer in results:
                mine.extend(_versus(scenario, ours, results[peer], peer, known.dropout))
        mine.extend(_own(scenario, ours, results.get("oracle"), known))
        verdicts.extend((s, goal, ok, "seed %d: %s" % (seed, why)) for s, goal, ok, why in mine)
    return verdicts


def _physics(scenario, goal, facts):
    if (scenario, goal) not in PHYSICS:
        return ""
    bound = facts.get(scenario, NO_FACTS).physics_failsafe_s
    return " (physics: %s; no controller can be sure of less than %s s)" % (PHYSICS[scenario, goal], bound)


def report(rows, facts):
    """Printable lines: one summary per goal, then every failure, then the fail-safe's physical bound."""
    verdicts = check(rows, facts)
    if not verdicts:
        return ["goals: no results for 'ours'"]
    lines = []
    for goal in GOALS:
        mine = [v for v in verdicts if v[1] == goal]
        failed = [v for v in mine if not v[2]]
        lines.append("goal %d: %s (%d checks, %d failed)" % (goal, "met" if not failed else "NOT met", len(mine),
                                                              len(failed)))
        lines.extend("  %s: %s%s" % (v[0], v[3], _physics(v[0], goal, facts)) for v in failed)
    for scenario, known in sorted(facts.items()):
        if known.physics_failsafe_s is not None:
            lines.append("fail-safe physics on %s: %.2f s after a dropout starts is the least any controller can be "
                         "sure of (detection + one command per inverter + the longest dead time a command may draw)" % (
                             scenario, known.physics_failsafe_s))
    return lines
