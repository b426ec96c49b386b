"""One-at-a-time sensitivity of the 2040 influence shares to the channel weights.

Usage: ``python scripts/channel_sensitivity.py [SCENARIO] [--replications N]``. For the
scenario's fitted weights and for equal weights, each channel weight is multiplied by 0.5
and by 2 in turn; the table gives the change of each power's influence share in the last
quarter, in percentage points, averaged over the states (and replications, common random
numbers). Prints Markdown.
"""

from __future__ import annotations

import argparse

import numpy as np

from sim.core.model import GeoModel
from sim.scenario import load_scenario
from sim.vocab import CHANNELS


def final_shares(scenario: str, weights: dict[str, float], reps: int, seed: int) -> np.ndarray:
    """``(I,)`` mean over states and replications of the last quarter's influence shares."""
    over = {f"behaviour.channel_weights.{c}": float(w) for c, w in weights.items()}
    model = GeoModel(scenario=scenario, overrides=over, replications=reps, collect=False, rng=seed)
    while model.running:
        model.step()
    return model.state.influence_share.mean(axis=(0, 1))


def table(scenario: str, base: dict[str, float], reps: int, seed: int) -> list[str]:
    """Markdown rows: channel, factor, then pp change per holder."""
    ref = final_shares(scenario, base, reps, seed)
    rows = []
    for c in CHANNELS:
        for f in (0.5, 2.0):
            d = (final_shares(scenario, base | {c: base[c] * f}, reps, seed) - ref) * 100
            rows.append(f"| {c} | x{f:g} | " + " | ".join(f"{x:+.2f}" for x in d) + " |")
    return rows


def main() -> None:
    """Print the tables for equal and for the scenario's weights."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("scenario", nargs="?", default="scenarios/baseline.yaml")
    ap.add_argument("--replications", type=int, default=8)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    sc = load_scenario(args.scenario)
    holders = sc.vocab.influencers
    fitted = {c: sc.behaviour.channel_weights.get(c, 1.0) for c in CHANNELS}
    for title, base in (("equal weights", dict.fromkeys(CHANNELS, 1.0)), ("fitted", fitted)):
        print(f"\n**{title}** ({', '.join(f'{c} {w:g}' for c, w in base.items())})\n")
        print("| channel | factor | " + " | ".join(holders) + " |")
        print("| --- | --- | " + " | ".join("---:" for _ in holders) + " |")
        print("\n".join(table(args.scenario, base, args.replications, args.seed)))


if __name__ == "__main__":
    main()
