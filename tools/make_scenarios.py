"""Write the simulator's scenario library, scenarios/*.json + *.csv, deterministically.

    python tools/make_scenarios.py [--out scenarios]

Every series has one row per second, so appliances switch within a second
(the simulator interpolates linearly between rows). The "days" are compressed
windows around noon (30-60 min): the hours of a whole day would only repeat
the same situations and make `make sim` slow. The appliance cycles follow
common household patterns: a kettle (2 kW for a few minutes), an oven
(heat-up, then thermostat cycling), a washing machine (heating, drum
reversals, spin), a fridge compressor, and small random consumers. All
randomness comes from fixed seeds, so the files are reproducible byte for byte.
"""

import argparse
import json
import math
import random
from pathlib import Path

HM_600 = {"rated_w": 600, "inputs": 2}
HM_800 = {"rated_w": 800, "inputs": 2}
HM_1500 = {"rated_w": 1500, "inputs": 4}
HMS_800 = {"rated_w": 800, "inputs": 2, "radio": "cmt"}  # HMS-800W-2T, on the CMT2300A
HMS_2000 = {"rated_w": 2000, "inputs": 4, "radio": "cmt"}  # HMS-2000-4T
# The plant as measured (docs/SIMULATION.md gives the sources): HM inverters act about 3 s after a
# command, varying from command to command; settle a little below a limit that binds them; a poll
# takes radio time; meters have a noise floor; DTU polls drift.
HM_PLANT = {"dead_time_s": 3.0, "dead_time_jitter": [0.7, 1.5], "settle_pct": 1.0, "poll_s": 0.3}
METER = {"position": "grid", "period_s": 1.0, "latency_s": 0.1, "noise_pct": 0.5, "noise_floor_w": 3.0,
         "dropouts_s": []}
TELEMETRY = {"telemetry_period_s": 5, "telemetry_jitter_s": 0.1}
# The plant of the first library: fixed 2 s dead time, exact settling, free polls, no noise floor.
IDEAL_METER = {"position": "grid", "period_s": 1.0, "latency_s": 0.1, "noise_pct": 0.5, "dropouts_s": []}


class Series:
    """Per-second power columns built from appliance events."""

    def __init__(self, duration_s, rng):
        self.n = duration_s + 1
        self.rng = rng

    def zeros(self):
        return [0.0] * self.n

    def base(self, watts, wander_w):
        """A constant base load with a slow random walk (TV, computers, standby)."""
        out, level = [], 0.0
        for _ in range(self.n):
            level = max(-wander_w, min(wander_w, level + self.rng.gauss(0.0, wander_w / 10)))
            out.append(watts + level)
        return out

    def add(self, column, start_s, end_s, watts):
        for t in range(max(0, start_s), min(self.n, end_s)):
            column[t] += watts

    def fridge(self, column, on_s, off_s, watts, offset_s=0):
        t = offset_s
        while t < self.n:
            self.add(column, t, t + 1, 3 * watts)  # start-up surge
            self.add(column, t + 1, t + on_s, watts)
            t += on_s + off_s

    def kettle(self, column, start_s, minutes=3.0, watts=2000.0):
        self.add(column, start_s, start_s + int(minutes * 60), watts)

    def oven(self, column, start_s, heat_s, cycles, on_s, off_s, watts=2200.0):
        self.add(column, start_s, start_s + heat_s, watts)
        t = start_s + heat_s
        for _ in range(cycles):
            t += off_s
            self.add(column, t, t + on_s, watts)
            t += on_s

    def washer(self, column, start_s, heat_s=600, wash_s=900, spin_s=240):
        self.add(column, start_s, start_s + 60, 100.0)  # filling
        self.add(column, start_s + 60, start_s + 60 + heat_s, 2000.0)
        t = start_s + 60 + heat_s
        end = t + wash_s
        while t < end:  # drum turns one way, rests, turns the other way
            self.add(column, t, t + 12, 180.0 + self.rng.uniform(-30, 30))
            self.add(column, t + 12, t + 16, 15.0)
            t += 16
        self.add(column, end, end + spin_s, 450.0)

    def sun(self, peak_w, clouds=0):
        """PV available: a flat noon with a slight arc; clouds dip it within 5-20 s."""
        out = [peak_w * (0.96 + 0.04 * math.sin(math.pi * t / (self.n - 1))) for t in range(self.n)]
        for _ in range(clouds):
            start = self.rng.randrange(0, self.n - 60)
            edge = self.rng.randint(5, 20)
            length = self.rng.randint(20, 240)
            depth = self.rng.uniform(0.25, 0.8)
            for t in range(start, min(self.n, start + length + 2 * edge)):
                k = min(1.0, (t - start) / edge, (start + length + 2 * edge - t) / edge)
                out[t] *= 1.0 - depth * k
        return out


def inverter(name, model, phase=1, **extra):
    row = {"name": name, **model, "phase": phase, **HM_PLANT, "ramp_w_per_s": 400,
           "limit_step_pct": 0.1, "command_s": 0.2, "ack_loss": 0.0}
    row.update(extra)
    return row


def ideal_inverter(name, model, phase=1):
    """An inverter of the first library: every key at its default but the ones it always had."""
    return {"name": name, **model, "phase": phase, "dead_time_s": 2.0, "ramp_w_per_s": 400,
            "limit_step_pct": 0.1, "command_s": 0.2, "ack_loss": 0.0}


def write(out, spec, columns):
    names = list(columns)
    rows = zip(*(columns[name] for name in names), strict=True)
    csv_text = ",".join(["t_s"] + names) + "\n" + "".join(
        ",".join([str(t)] + ["%.1f" % max(0.0, v) for v in row]) + "\n" for t, row in enumerate(rows))
    spec = dict(spec, series=spec["name"] + ".csv")
    (out / spec["series"]).write_text(csv_text)
    (out / (spec["name"] + ".json")).write_text(json.dumps(spec, indent=2) + "\n")


def kitchen_day(s, duration_s):
    load = s.base(180.0, 40.0)
    s.fridge(load, 420, 900, 90.0, offset_s=120)
    s.kettle(load, 300)
    s.oven(load, 900, 600, 14, 40, 55)
    s.washer(load, 2100, heat_s=480, wash_s=600, spin_s=180)
    s.kettle(load, duration_s - 420, minutes=2.5)
    return load


def sunny_and_cloudy(out):
    duration = 3600
    for name, clouds, seed in (("sunny-noon-1p", 0, 11), ("cloudy-noon-1p", 22, 12)):
        s = Series(duration, random.Random(seed))
        load = kitchen_day(s, duration)
        pv = s.sun(760.0, clouds)
        spec = {"name": name, "step_s": 0.1, "export_limit_w": 0, "phase_export_limit_w": None,
                "meter": METER, "inverters": [inverter("inv1", HM_800)], **TELEMETRY}
        write(out, spec, {"load_w": load, "pv_inv1_w": pv})


def three_phase(out):
    duration = 2400
    s = Series(duration, random.Random(21))
    l1 = s.base(120.0, 30.0)
    s.kettle(l1, 200)
    s.oven(l1, 700, 480, 10, 35, 60)
    l2 = s.base(60.0, 10.0)
    s.fridge(l2, 420, 780, 90.0)
    s.washer(l2, 400, heat_s=420, wash_s=480, spin_s=180)
    l3 = s.base(250.0, 60.0)
    s.add(l3, 1500, 2100, 1200.0)  # a heater on L3
    pv = {"pv_south_w": s.sun(760.0, 6), "pv_east_w": s.sun(560.0, 6), "pv_west_w": s.sun(760.0, 6)}
    spec = {"name": "three-phase-house", "step_s": 0.1, "export_limit_w": 300,
            "phase_export_limit_w": [100, 100, 100],
            "meter": METER, **TELEMETRY,
            "inverters": [inverter("south", HM_800, 1), inverter("east", HM_600, 2), inverter("west", HM_800, 3)]}
    write(out, spec, {"load_l1_w": l1, "load_l2_w": l2, "load_l3_w": l3, **pv})


def fleet_of_six(out, scenario_name="fleet-6", duration=1800, dropouts_s=()):
    s = Series(duration, random.Random(31))
    loads = [s.base(900.0, 150.0) for _ in range(3)]
    for k, column in enumerate(loads):  # a three-phase compressor and a kiln on all phases
        s.oven(column, 120 + 40 * k, 60, 18, 45, 40, watts=1800.0)
        s.add(column, 900, 1500, 1500.0)
    s.kettle(loads[0], 600)
    names = ["a1", "a2", "b1", "b2", "c1", "c2"]
    models = [HM_1500, HM_800, HM_1500, HM_800, HM_1500, HM_800]
    inverters = [inverter(name, model, 1 + k // 2, ack_loss=0.02) for k, (name, model) in
                 enumerate(zip(names, models, strict=True))]
    columns = {"load_l1_w": loads[0], "load_l2_w": loads[1], "load_l3_w": loads[2]}
    for name, model in zip(names, models, strict=True):
        columns["pv_%s_w" % name] = s.sun(model["rated_w"] * 0.93, 4)
    spec = {"name": scenario_name, "step_s": 0.1, "export_limit_w": 0, "phase_export_limit_w": None,
            "meter": dict(METER, dropouts_s=[list(d) for d in dropouts_s]), **TELEMETRY, "inverters": inverters}
    write(out, spec, columns)


def fleet_dropout(out):
    """The fleet of six with the meter silent twice: the fail-safe of a whole fleet on one radio."""
    fleet_of_six(out, "fleet-6-dropout", 1200, [(300, 360), (800, 860)])


def meter_dropout(out):
    duration = 1800
    s = Series(duration, random.Random(41))
    load = s.base(200.0, 30.0)
    s.kettle(load, 560, minutes=1.5)  # switches off during the first dropout
    s.oven(load, 1000, 200, 8, 30, 40)
    spec = {"name": "meter-dropout-1p", "step_s": 0.1, "export_limit_w": 0, "phase_export_limit_w": None,
            "meter": dict(METER, dropouts_s=[[600, 660], [1150, 1240]]), **TELEMETRY,
            "inverters": [inverter("inv1", HM_800)]}
    write(out, spec, {"load_w": load, "pv_inv1_w": s.sun(760.0, 2)})


def slow_hm1500(out):
    duration = 2400
    s = Series(duration, random.Random(51))
    load = s.base(250.0, 40.0)
    s.fridge(load, 420, 900, 90.0, offset_s=60)
    s.kettle(load, 300)
    # Slow loads for the slow inverter: a thermostat oven cycling faster than the
    # inverter's 18 s dead time plus ramp cannot be followed by any controller.
    s.washer(load, 700, heat_s=600, wash_s=600, spin_s=240)
    s.kettle(load, 2000, minutes=2)
    spec = {"name": "slow-hm1500", "step_s": 0.1, "export_limit_w": 0, "phase_export_limit_w": None,
            "meter": METER, **TELEMETRY,
            "inverters": [inverter("hm1500", HM_1500, dead_time_s=18.0, ramp_w_per_s=60)]}
    write(out, spec, {"load_w": load, "pv_hm1500_w": s.sun(1400.0, 3)})


def limit_600(out):
    duration = 1800
    s = Series(duration, random.Random(61))
    load = s.base(300.0, 50.0)
    s.kettle(load, 240)
    s.oven(load, 700, 300, 6, 40, 50)
    s.washer(load, 1000, heat_s=300, wash_s=320, spin_s=120)
    # The one scenario kept at the first library's plant (2 s fixed dead time, exact settling, free polls).
    spec = {"name": "limit-600w", "step_s": 0.1, "export_limit_w": 600, "phase_export_limit_w": None,
            "meter": IDEAL_METER, "telemetry_period_s": 5,
            "inverters": [ideal_inverter("big", HM_1500), ideal_inverter("small", HM_800)]}
    write(out, spec, {"load_w": load, "pv_big_w": s.sun(1420.0, 4), "pv_small_w": s.sun(760.0, 4)})


def limit_0_load_meter(out):
    duration = 1800
    s = Series(duration, random.Random(71))
    load = s.base(220.0, 40.0)
    s.fridge(load, 300, 600, 100.0)
    s.kettle(load, 400)
    s.oven(load, 900, 240, 8, 40, 45)
    spec = {"name": "limit-0w-load-meter", "step_s": 0.1, "export_limit_w": 0, "phase_export_limit_w": None,
            "meter": dict(METER, position="load", period_s=2.0, latency_s=0.3, noise_pct=1.0),
            **TELEMETRY, "inverters": [inverter("inv1", HM_800), inverter("inv2", HM_600)]}
    write(out, spec, {"load_w": load, "pv_inv1_w": s.sun(760.0, 3), "pv_inv2_w": s.sun(570.0, 3)})


def split_phase(out):
    """A North American 120/240 V house: 120 V loads on one leg, 240 V loads across both."""
    duration = 2400
    s = Series(duration, random.Random(81))
    l1 = s.base(150.0, 30.0)
    l2 = s.base(90.0, 20.0)
    s.fridge(l1, 420, 900, 110.0, offset_s=60)  # 120 V on L1
    s.kettle(l1, 240, minutes=3.0, watts=1500.0)  # 120 V: 1.5 kW
    s.add(l2, 600, 840, 1100.0)  # a 120 V microwave on L2
    for leg in (l1, l2):  # a 240 V dryer's 5 kW heater cycling across both legs
        s.oven(leg, 1000, 300, 8, 45, 60, watts=2500.0)
    s.add(l1, 1000, 2140, 250.0)  # its 120 V drum motor
    s.kettle(l2, 2200, minutes=2.0, watts=1500.0)
    spec = {"name": "split-phase-house", "grid": "split", "step_s": 0.1, "export_limit_w": 200,
            "phase_export_limit_w": [150, 150], "meter": METER, **TELEMETRY,
            "inverters": [inverter("leg1", HM_800, 1), inverter("leg2", HM_600, 2)]}
    write(out, spec, {"load_l1_w": l1, "load_l2_w": l2, "pv_leg1_w": s.sun(760.0, 4), "pv_leg2_w": s.sun(570.0, 4)})


def hms_eu(out):
    """Two HMS inverters on the CMT2300A in the EU: the 1 % duty cycle paces their polls."""
    duration = 1800
    s = Series(duration, random.Random(91))
    load = s.base(200.0, 40.0)
    s.fridge(load, 420, 900, 90.0, offset_s=200)
    s.kettle(load, 240)
    s.oven(load, 600, 300, 8, 40, 55)
    s.washer(load, 1000, heat_s=360, wash_s=240, spin_s=120)
    s.kettle(load, 1650, minutes=2.0)
    spec = {"name": "hms-eu-2t", "step_s": 0.1, "export_limit_w": 0, "phase_export_limit_w": None,
            "cmt_region": "eu", "meter": METER, **TELEMETRY,
            "inverters": [inverter("hms800", HMS_800), inverter("hms2000", HMS_2000)]}
    write(out, spec, {"load_w": load, "pv_hms800_w": s.sun(760.0, 4), "pv_hms2000_w": s.sun(1900.0, 4)})


BUILDERS = (sunny_and_cloudy, three_phase, fleet_of_six, fleet_dropout, meter_dropout, slow_hm1500, limit_600,
            limit_0_load_meter, split_phase, hms_eu)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "scenarios"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for build in BUILDERS:
        build(out)


if __name__ == "__main__":
    main()
