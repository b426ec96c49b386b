"""Print the model side of docs/validation.md (cross-sectional checks of influence).

Usage: ``python scripts/validation_tables.py [SCENARIO] [--replications N]``. Prints
Markdown: China's influence share per state in the first and last quarter against the
China Index 2022 ranks (with the Spearman correlations), China's base-year share of each
channel with its own rank correlation, and each state's exposure to the money channels.
"""

from __future__ import annotations

import argparse

import numpy as np

from sim.core.model import GeoModel
from sim.scenario import load_scenario
from sim.studies.channels import base_year_inputs, china_index_ranks, spearman
from sim.vocab import CHANNELS


def main() -> None:
    """Run the scenario and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("scenario", nargs="?", default="scenarios/baseline.yaml")
    ap.add_argument("--replications", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    ranks = china_index_ranks()
    order = sorted(ranks, key=ranks.__getitem__)
    target = -np.array([ranks[s] for s in order], dtype=float)
    model = GeoModel(
        scenario=args.scenario, replications=args.replications, collect=False, rng=args.seed
    )
    v = model.params.vocab
    rows, col = [v.states.index(s) for s in order], v.influencers.index("CHN")
    model.step()
    first = model.state.influence_share[:, rows, col].mean(axis=0)
    while model.running:
        model.step()
    last = model.state.influence_share[:, rows, col].mean(axis=0)
    print("| state | China Index rank | China share, first quarter | China share, last quarter |")
    print("| --- | ---: | ---: | ---: |")
    for i, s in enumerate(order):
        print(f"| {s} | {ranks[s]} | {first[i]:.3f} | {last[i]:.3f} |")
    print(f"\nSpearman: first quarter {spearman(first, target):+.1f}, ", end="")
    print(f"last quarter {spearman(last, target):+.1f}\n")
    inputs = base_year_inputs(load_scenario(args.scenario))
    srows = [inputs.states.index(s) for s in order]
    shares = inputs.shares[srows][:, inputs.holders.index("CHN"), :]
    print("| channel | " + " | ".join(order) + " | Spearman |")
    print("| --- |" + " ---: |" * (len(order) + 1))
    for j, c in enumerate(CHANNELS):
        cells = " | ".join(f"{x:.3f}" for x in shares[:, j])
        print(f"| {c} | {cells} | {spearman(shares[:, j], target):+.1f} |")
    print("\n| channel | " + " | ".join(order) + " |")
    print("| --- |" + " ---: |" * len(order))
    for j, c in enumerate(CHANNELS):
        cells = " | ".join(f"{x:.3f}" for x in inputs.exposure[srows, j])
        print(f"| {c} | {cells} |")


if __name__ == "__main__":
    main()
