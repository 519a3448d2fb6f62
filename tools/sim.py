"""Plant simulator: run a controller (ours, a peer, or the oracle) through a scenario.

    python tools/sim.py --scenario FILE.json --controller {ours,dpl,dpl-tuned,ahoy,hze,hze-literal,simple,oracle}
                        [--seed N] [--json] [--plot FILE.png]
    python tools/sim.py --all scenarios [--seeds 5] [--out build/sim] [--jobs 2] [--markdown]

One run steps the plant every `step_s`: the meter samples the true grid power
(load - PV per phase), the controller steps (ours every 0.25 s through a
Reading and the Fleet, exactly as on the device, with ticks that wrap at 2**30
ten seconds into the run), the radio links (one per radio family, nRF24 and
CMT2300A) serve the Fleet's queued commands and the DTU polls (the firmware's tick order: meter, controller, links), and
the inverters move. Metrics come from tools/metrics.py;
the meaning of every field is in docs/SIMULATION.md. Randomness (meter noise,
lost acks, poll phase and jitter, dead-time jitter) comes from the seed only,
so runs repeat exactly. `--all` runs seeds 1..N of every scenario and
controller and prints each pair's mean and worst seed; the goals must hold in
every seed.
"""

import argparse
import json
import multiprocessing
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import source_tree  # noqa: E402

source_tree.import_lib()

import metrics  # noqa: E402
import scenario as scenario_mod  # noqa: E402
import supervision  # noqa: E402
from fleet import Fleet  # noqa: E402
from peers import PEERS, Ours, Site  # noqa: E402
from plant import Inverter, Meter, Radios, record_sample  # noqa: E402
from reading import Reading  # noqa: E402

CONTROLLERS = ("ours", "dpl", "dpl-tuned", "ahoy", "hze", "hze-literal", "simple", "oracle")
SEEDS = 5


class Run:
    """The per-step record of one run: what the metrics and the plot need."""

    def __init__(self, scn, name):
        self.scenario = scn.name
        self.controller = name
        self.step_s = scn.step_s
        self.times_s = scn.times_s
        self.export_limit_w = scn.export_limit_w
        self.phase_export_limit_w = scn.phase_export_limit_w
        self.load_total_w = sum(scn.load_w)
        self.pv_available_w = sum(scn.pv_w)
        self.grid_phase_w = None
        self.pv_total_w = None
        self.limits_in_force_w = None
        self.limit_commands = 0
        self.failsafe_reaction_s = None
        self.meter_samples = None  # [(t_s, [W per phase])] a grid-side meter delivered
        self.stage2_events = None  # set by run(); None (a "-") where nobody fed a supervisor
        self.trips = None
        self.metrics = None


def _run_oracle(scn, record):
    phases = [inv["phase"] - 1 for inv in scn.inverters]
    outputs = metrics.oracle_outputs_w(np.array(scn.load_w), np.array(scn.pv_w), phases, scn.export_limit_w,
                                       scn.phase_export_limit_w)
    grid = np.array(scn.load_w)
    for row, phase in zip(outputs, phases, strict=True):
        grid[phase] -= row
    record.grid_phase_w = grid
    record.pv_total_w = outputs.sum(axis=0)


class PlantRun:
    """The plant stepped through a scenario, and the traces a run is scored on.

    Shared by every controller here and by tools/hil.py (the firmware on the
    unix port): per step, `measure(k)` (the true grid power; the meter samples
    it), then the caller's link and controller, then `advance(k)`.
    """

    def __init__(self, scn, fleet, seed):
        self.scn = scn
        self.load = [column.tolist() for column in scn.load_w]
        self.pv = [column.tolist() for column in scn.pv_w]
        self.inverters = [Inverter(spec, self.pv[i][0], random.Random("%d:inverter%d" % (seed, i)))
                          for i, spec in enumerate(scn.inverters)]
        self.meter = Meter(scn.meter, random.Random("%d:meter" % seed), scn.phases)
        self.link = Radios(fleet, self.inverters, scn.inverters, seed, scn.telemetry_period_s, scn.link_timeout_s,
                           scn.telemetry_jitter_s, scn.cmt_region)
        self.grid_phase_w = np.empty((3, scn.steps))
        self.pv_total_w = np.empty(scn.steps)
        self.limits_in_force_w = np.empty(scn.steps)
        self.phase_load_w = [0.0, 0.0, 0.0]

    def measure(self, k):
        """Step k's true grid power per phase; True when the meter delivers a sample now."""
        out = [0.0, 0.0, 0.0]
        for inv in self.inverters:
            out[inv.phase] += inv.output_w
        load = self.load
        phase_load = self.phase_load_w = [load[0][k], load[1][k], load[2][k]]
        grid = [phase_load[0] - out[0], phase_load[1] - out[1], phase_load[2] - out[2]]
        self.grid_phase_w[0, k], self.grid_phase_w[1, k], self.grid_phase_w[2, k] = grid
        self.pv_total_w[k] = out[0] + out[1] + out[2]
        self.limits_in_force_w[k] = sum(inv.limit_w for inv in self.inverters)
        return self.meter.update(k * self.scn.step_s, grid, phase_load)

    def advance(self, k):
        """The inverters move to the end of step k."""
        step_s = self.scn.step_s
        nxt = min(k + 1, self.scn.steps - 1)
        t_s = k * step_s
        for i, inv in enumerate(self.inverters):
            inv.advance(t_s + step_s, step_s, self.pv[i][nxt])

    def record(self, record):
        """Hand the traces, the command count and the fail-safe reaction to `record`."""
        scn = self.scn
        record.grid_phase_w = self.grid_phase_w
        record.pv_total_w = self.pv_total_w
        record.limits_in_force_w = self.limits_in_force_w
        record.limit_commands = self.link.sent
        bound_w = max(scn.export_limit_w, sum(scn.min_output_w))
        record.failsafe_reaction_s = metrics.failsafe_reaction_s(scn.times_s, self.limits_in_force_w,
                                                                 self.meter.dropouts_s, bound_w)


def _run_plant(scn, name, seed, record):
    fleet = Fleet(len(scn.inverters))
    for i, spec in enumerate(scn.inverters):
        fleet.add(i, rated_w=int(spec["rated_w"]), phase=spec["phase"] - 1, inputs=spec["inputs"])
        fleet.can_switch_off[i] = 1 if spec.get("can_switch_off") else 0
    plant = PlantRun(scn, fleet, seed)
    site = Site(scn, fleet, plant.meter, plant.link)
    reading = Reading(phases=scn.phases)
    controller = Ours(site, reading) if name == "ours" else PEERS[name](site)
    samples = [] if scn.meter["position"] == "grid" else None
    meter = plant.meter
    for k in range(scn.steps):
        t_s = k * scn.step_s
        if plant.measure(k):
            record_sample(reading, t_s, meter.phase_w)
            if samples is not None:
                samples.append((t_s, list(meter.phase_w)))
        controller.step(t_s)
        plant.link.service(t_s)  # the firmware's tick order: meter, controller, links
        plant.advance(k)
    plant.record(record)
    record.meter_samples = samples


def run(scn, name, seed=1):
    """Simulate one controller on a loaded scenario; returns a Run with .metrics filled in."""
    if name not in CONTROLLERS:
        raise ValueError("unknown controller %r" % name)
    record = Run(scn, name)
    if name == "oracle":
        _run_oracle(scn, record)
    else:
        _run_plant(scn, name, seed, record)
    return score(scn, record)


def score(scn, record):
    """The supervisor's counts and every metric of a finished run, against the oracle's production."""
    supervise(scn, record)
    phases = [inv["phase"] - 1 for inv in scn.inverters]
    oracle = metrics.oracle_outputs_w(np.array(scn.load_w), np.array(scn.pv_w), phases, scn.export_limit_w,
                                      scn.phase_export_limit_w)
    oracle_pv_wh = float(oracle.sum() * scn.step_s / 3600.0)
    record.metrics = metrics.score(record, oracle_pv_wh)
    return record


def supervise(scn, record):
    """Fill record.stage2_events and .trips: the supervisor's counts on a connection-point meter
    (tools/supervision.py), from record.meter_samples or, without them, record.grid_phase_w."""
    samples = record.meter_samples
    if samples is None:
        samples = supervision.connection_samples(scn.times_s, record.grid_phase_w, scn.meter)
    end_s = scn.steps * scn.step_s
    record.stage2_events, record.trips = supervision.counts(samples, end_s, scn.export_limit_w,
                                                           scn.phase_export_limit_w, scn.phases)


HEADERS = ("scenario", "controller") + metrics.KEYS
# The worst seed of a metric is its lowest where more is better, its highest elsewhere;
# a missing fail-safe reaction (null: not safe before the dropout ended) is worse than any number.
HIGHER_IS_BETTER = ("pv_produced_wh",)


def summarize(rows):
    """[(scenario, controller, seed, metrics)] -> [(scenario, "<controller> mean"|"<controller> worst", metrics)],
    in the order the pairs first appear: the mean over the seeds and the worst seed of each metric."""
    grouped = {}
    for scenario_name, controller, _, result in rows:
        grouped.setdefault((scenario_name, controller), []).append(result)
    out = []
    for (scenario_name, controller), results in grouped.items():
        mean, worst = {}, {}
        for key in metrics.KEYS:
            values = [r[key] for r in results]
            if None in values:
                mean[key] = worst[key] = None
                continue
            mean[key] = round(sum(values) / len(values), 3)
            worst[key] = min(values) if key in HIGHER_IS_BETTER else max(values)
        out.append((scenario_name, controller + " mean", mean))
        out.append((scenario_name, controller + " worst", worst))
    return out


def table(rows):
    """rows: (scenario, controller, metrics dict); a plain-text table with the JSON keys as columns."""
    cells = [HEADERS]
    for scenario_name, controller, result in rows:
        values = ["-" if result[key] is None else str(result[key]) for key in metrics.KEYS]
        cells.append((scenario_name, controller, *values))
    widths = [max(len(row[c]) for row in cells) for c in range(len(HEADERS))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(cell.ljust(w) if c < 2 else cell.rjust(w) for c, (cell, w) in
                               enumerate(zip(row, widths, strict=True))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(summary):
    """The README's table from summarize(): per scenario, each controller's mean over-limit energy, lost
    yield and excursions over 5 s, then the oracle's production."""
    means = {}
    for scenario_name, label, result in summary:
        controller, stat = label.rsplit(" ", 1)
        if stat == "mean":
            means.setdefault(scenario_name, {})[controller] = result
    peers = [name for name in CONTROLLERS if name != "oracle"]
    lines = ["| scenario | " + " | ".join(peers) + " | oracle yield |", "|---|" + "---:|" * (len(peers) + 1)]
    for scenario_name, results in means.items():
        cells = ["%.1f / %.1f / %.1f" % (results[name]["export_over_limit_wh"], results[name]["lost_yield_wh"],
                                         results[name]["excursions_over_5s"]) for name in peers]
        cells[0] = "**%s**" % cells[0]
        lines.append("| %s | %s | %.0f Wh |" % (scenario_name, " | ".join(cells), results["oracle"]["pv_produced_wh"]))
    return "\n".join(lines)


def _job(args):
    path, name, seed, out = args
    scn = scenario_mod.load(path)
    record = run(scn, name, seed)
    if out and seed == 1:
        import simplot

        simplot.plot(record, Path(out) / ("%s-%s.png" % (scn.name, name)))
    return scn.name, name, seed, record.metrics


def run_all(directory, seeds=SEEDS, out=None, jobs=2, controllers=CONTROLLERS, first_seed=1):
    """Every scenario in directory x every controller x seeds first_seed.. (plots: the first seed's runs);
    returns [(scenario, controller, seed, metrics)]."""
    paths = sorted(Path(directory).glob("*.json"))
    seed_list = range(first_seed, first_seed + seeds)
    work = [(str(p), name, seed, out) for p in paths for name in controllers for seed in seed_list]
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
    if jobs > 1:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            return pool.map(_job, work, chunksize=1)
    return [_job(w) for w in work]


def scenario_facts(directory):
    """{scenario name: goals.Facts} from the JSON files alone: dropouts, the longest dead time."""
    import goals

    facts = {}
    for path in sorted(Path(directory).glob("*.json")):
        scn = scenario_mod.load(path)
        facts[scn.name] = goals.Facts(bool(scn.meter["dropouts_s"]), max(inv["dead_time_s"] for inv in scn.inverters),
                                      physics_failsafe_s(scn))
    return facts


def physics_failsafe_s(scn):
    """The earliest any controller can have the fail-safe limits in force after a dropout starts
    (None without one): the missing sample noticed at its delivery time, one command per inverter
    on the one radio (the largest first), then the longest dead time a command may have."""
    if not scn.meter["dropouts_s"]:
        return None
    commands_s = sum(inv["command_s"] for inv in scn.inverters)
    return round(scn.meter["latency_s"] + commands_s + scn.dead_time_max_s, 2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", help="scenario JSON file")
    parser.add_argument("--controller", choices=CONTROLLERS)
    parser.add_argument("--all", metavar="DIR", help="run every scenario in DIR with every controller")
    parser.add_argument("--seed", type=int, default=1, help="the run's seed (with --all: the first seed)")
    parser.add_argument("--seeds", type=int, default=SEEDS, help="with --all: how many seeds per scenario")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the metrics")
    parser.add_argument("--plot", metavar="FILE.png")
    parser.add_argument("--out", metavar="DIR", help="with --all: write DIR/<scenario>-<controller>.png")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--markdown", action="store_true", help="with --all: print the README's table instead")
    args = parser.parse_args(argv)
    if args.all:
        import goals

        rows = run_all(args.all, args.seeds, args.out, args.jobs, first_seed=args.seed)
        if args.markdown:
            print(markdown(summarize(rows)))
            return 0
        print("seeds %d..%d: each controller's mean over the seeds, and its worst seed per metric"
              % (args.seed, args.seed + args.seeds - 1))
        print(table(summarize(rows)))
        for line in goals.report(rows, scenario_facts(args.all)):
            print(line)
        return 0
    if not args.scenario or not args.controller:
        parser.error("--scenario and --controller are required (or --all DIR)")
    try:
        scn = scenario_mod.load(args.scenario)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    record = run(scn, args.controller, args.seed)
    if args.plot:
        import simplot

        simplot.plot(record, Path(args.plot))
    if args.json:
        print(json.dumps(record.metrics))
    else:
        print(table([(scn.name, args.controller, record.metrics)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
