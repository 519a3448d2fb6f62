"""What an idealised controller scores on a one-inverter scenario: a yardstick for the goals, not a peer.

    python tools/tracker_bound.py [--scenario scenarios/slow-hm1500.json] [--seeds 40] [--margin-w 12]
                                  [--exposure-w W]

The tracker knows what no controller can: the true load at every meter sample, without noise, and the
inverter's nominal dead time. It sends `min(rating, aim - margin)` whenever that moves by 10 W or more,
the command arriving 0.55 s later (meter latency, a 0.25 s control period, the radio), where `aim` is
the load, or, while the load has dropped by 100 W or more within the last nominal dead time (an
appliance cycling faster than the inverter can follow), the lowest load of that dead time: it never
chases a cycling load, so such a load costs it no over-limit energy. With `--exposure-w`, it also holds
its output at most that far above the lowest load of the last 300 samples (held back while a large load
runs, to export less when it stops). Everything else is the plant's (tools/plant.py `Inverter`, seeded
as tools/sim.py seeds it): each command's dead time drawn from `dead_time_jitter`, the ramp, the
settling, the limit step and the minimum. So it scores what full output while the load is high, cuts
sent at once and raises without hesitation give against the draws of each seed: the over-limit energy of
the load drops that no causal controller can see coming (dead time, then the ramp) and the yield a raise
loses to the same dead time.
"""

import argparse
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import source_tree  # noqa: E402

source_tree.import_lib()

import metrics  # noqa: E402
import scenario as scenario_mod  # noqa: E402
from plant import Inverter  # noqa: E402

DELAY_S = 0.55  # meter latency 0.1 s + a 0.25 s control period + a 0.2 s command
DEADBAND_W = 10.0
SWITCH_W = 100.0  # a drop this large between samples is an appliance switching off
BASE_SAMPLES = 300  # --exposure-w counts from the lowest load of this many samples


def run(scn, seed, margin_w, exposure_w=None):
    """(over-limit Wh, lost yield Wh) of the tracker on `scn` (one inverter) for `seed`."""
    if len(scn.inverters) != 1:
        raise ValueError("the tracker drives one inverter; %s has %d" % (scn.name, len(scn.inverters)))
    spec = scn.inverters[0]
    load = np.array(scn.load_w).sum(axis=0)
    pv = np.array(scn.pv_w)[0]
    oracle = metrics.oracle_outputs_w(np.array(scn.load_w), np.array(scn.pv_w), [spec["phase"] - 1],
                                      scn.export_limit_w, None).sum(axis=0)
    inverter = Inverter(spec, pv[0], random.Random("%d:inverter0" % seed))
    every = max(1, int(round(scn.meter["period_s"] / scn.step_s)))
    window = max(1, int(round(spec["dead_time_s"] / scn.meter["period_s"])))
    samples, queued, sent_w, dropped_at = [], [], None, -window - 1
    output = np.empty(scn.steps)
    for k in range(scn.steps):
        t_s = k * scn.step_s
        if k % every == 0:
            if samples and load[k] < samples[-1] - SWITCH_W:
                dropped_at = len(samples)
            samples.append(load[k])
            cycling = len(samples) - 1 - dropped_at <= window
            aim = min(samples[-window - 1:]) if cycling else load[k]
            if exposure_w is not None:
                aim = min(aim, min(samples[-BASE_SAMPLES - 1:]) + exposure_w)
            target_w = max(0.0, min(float(spec["rated_w"]), aim + scn.export_limit_w - margin_w))
            if sent_w is None or abs(target_w - sent_w) >= DEADBAND_W:
                queued.append((t_s + DELAY_S, target_w))
                sent_w = target_w
        while queued and queued[0][0] <= t_s + 1e-9:
            inverter.receive(*queued.pop(0))
        output[k] = inverter.output_w
        inverter.advance(t_s + scn.step_s, scn.step_s, pv[min(k + 1, scn.steps - 1)])
    over = np.maximum(0.0, output - load - scn.export_limit_w)
    to_wh = scn.step_s / 3600.0
    return float(over.sum() * to_wh), float(max(0.0, (oracle.sum() - output.sum() + over.sum()) * to_wh))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="scenarios/slow-hm1500.json")
    parser.add_argument("--seeds", type=int, default=40, help="seeds 1..N")
    parser.add_argument("--margin-w", type=float, default=12.0)
    parser.add_argument("--exposure-w", type=float, help="output at most this far above the lowest load of 300 samples")
    args = parser.parse_args(argv)
    scn = scenario_mod.load(args.scenario)
    results = np.array([run(scn, seed, args.margin_w, args.exposure_w) for seed in range(1, args.seeds + 1)])
    for seed, (over_wh, lost_wh) in enumerate(results[:5], 1):
        print("seed %d: over %.1f Wh, lost %.1f Wh" % (seed, over_wh, lost_wh))
    print("seeds 1-%d: over %.1f +- %.1f Wh (%.1f..%.1f), lost %.1f +- %.1f Wh (%.1f..%.1f)" % (
        args.seeds, results[:, 0].mean(), results[:, 0].std(), results[:, 0].min(), results[:, 0].max(),
        results[:, 1].mean(), results[:, 1].std(), results[:, 1].min(), results[:, 1].max()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
