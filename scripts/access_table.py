"""Japan's access and aim in a scenario: the numbers behind docs/calibration.md (access).

Runs each scenario (its own seed, ``--reps`` replications) and prints, per scenario and
per value of ``behaviour.award_sensitivity`` (alpha, when ``--alpha`` is given):

* Japan's share of Kazakh uranium exports (volume), mean over 2026-2040 and in 2040Q4;
* the share of Japan's programme money offered to each state (all quarters, before
  the states screen it);
* Japan's influence share in each state in 2040Q4.

Usage: ``python scripts/access_table.py [--reps 20] [--alpha 0,1,2,4] [scenario ...]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sim.core import agents
from sim.core.model import GeoModel
from sim.vocab import COMMODITIES

ROOT = Path(__file__).resolve().parents[1]


def measure(scenario: Path, reps: int, overrides: dict[str, object]) -> dict[str, object]:
    """Run one scenario; Japan's uranium share, money shares by state and influence."""
    m = GeoModel(scenario=scenario, overrides=overrides, replications=reps, collect=False)
    v = m.params.vocab
    kaz, jpn = v.index("state", "KAZ"), v.index("power", "JPN")
    u = COMMODITIES.index("uranium")
    money = np.zeros(len(v.states))
    original = agents.GreatPower.allocate_budget

    def recording(self: agents.GreatPower) -> None:
        original(self)
        if self.index == jpn:
            money[:] += self.model.state.offers[:, jpn].sum(axis=(0, 2))

    agents.GreatPower.allocate_budget = recording  # type: ignore[method-assign]
    shares = []
    try:
        for _ in range(m.T):
            m.step()
            vol = m.state.exports_volume[:, kaz, u]  # (R, B)
            shares.append(vol[:, jpn] / np.maximum(vol.sum(axis=1), 1e-12))
    finally:
        agents.GreatPower.allocate_budget = original  # type: ignore[method-assign]
    s = np.array(shares)  # (T, R)
    first = max(4 * 2026 - m.start_quarter, 0)
    return {
        "uranium_mean": float(s[first:].mean()),
        "uranium_end": float(s[-1].mean()),
        "money": money / max(money.sum(), 1e-12),
        "jpn_infl": m.state.influence_share[:, :, jpn].mean(axis=0),
        "states": v.states,
    }


def main() -> None:
    """Print one Markdown row per (scenario, alpha)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", default=["baseline", "japan_summit"])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--alpha", default="", help="comma-separated award_sensitivity values")
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE override")
    args = ap.parse_args()
    alphas = [float(a) for a in args.alpha.split(",")] if args.alpha else [None]
    base = {k: float(v) for k, v in (s.split("=", 1) for s in args.set)}
    header = None
    for name in args.scenarios:
        for a in alphas:
            over = dict(base)
            if a is not None:
                over["behaviour.award_sensitivity"] = a
            r = measure(ROOT / "scenarios" / f"{name}.yaml", args.reps, over)
            states = r["states"]
            if header is None:
                cols = [f"money {s}" for s in states] + [f"JPN infl {s}" for s in states]
                header = ["scenario", "alpha", "JPN U KAZ 2026-40", "JPN U KAZ 2040Q4", *cols]
                print("| " + " | ".join(header) + " |")
                print("|" + " --- |" * len(header))
            row = [name, "-" if a is None else f"{a:g}"]
            row += [f"{100 * r['uranium_mean']:.1f}%", f"{100 * r['uranium_end']:.1f}%"]
            row += [f"{100 * x:.0f}%" for x in r["money"]]
            row += [f"{100 * x:.1f}%" for x in r["jpn_infl"]]
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
