"""Perpetual-inventory investment stocks and the baseline's aimed budget shares.

Prints two Markdown tables, the derivation behind ``states.<S>.investment_stock`` and
``powers.<P>.budget_split`` in ``scenarios/baseline.yaml`` (docs/calibration.md,
"Investment stocks and aimed budgets").

Stocks: ``K_2024 = sum_t I_t (1 - delta)^(2024 - t)`` over annual flows ``I_t`` (USD bn),
with ``delta = behaviour.investment_depreciation`` (0.05/yr). The flows come from
``/work/shared/data`` (investment.csv, aid.csv, fdi_positions.csv: dataset and row in
each entry below); where the data give a cumulative sum over a window it is spread
evenly over the window, where they give flows in some years the years between are
interpolated linearly and the first and last values held over the window (both
flagged as assumptions in the table). Usage: ``python scripts/investment_stocks.py``.
"""

from __future__ import annotations

import numpy as np

DELTA = 0.05  # behaviour.investment_depreciation in the baseline, per year
BASE = 2024  # stocks at the end of 2024, the eve of the 2025Q1 start

# (state, power, kind, data, window, source)
#   kind "cum": data = total USD bn spread evenly over window (first, last year)
#   kind "flow": data = {year: USD bn}, interpolated and held flat over window
FLOWS: list[tuple[str, str, str, object, tuple[int, int], str]] = [
    (
        "KAZ",
        "USA",
        "cum",
        48.4,
        (1993, 2019),
        "investment.csv fdi_gross_cumulative KAZ USA 1993-2019 (Kazinform), read",
    ),
    (
        "KAZ",
        "USA",
        "flow",
        {2020: 1.79, 2022: 5.1, 2024: 1.79},
        (2020, 2024),
        "investment.csv fdi_gross_inflow KAZ USA 2022 (Kazakh MFA), read; other years at the "
        "1993-2019 mean 1.79 (assumption)",
    ),
    (
        "KAZ",
        "JPN",
        "cum",
        7.8,
        (1993, 2023),
        "investment.csv fdi_gross_cumulative KAZ JPN 1993-2023 (Kazinform), read",
    ),
    (
        "KAZ",
        "JPN",
        "flow",
        {2024: 7.8 / 31},
        (2024, 2024),
        "2024 at the 1993-2023 mean (assumption)",
    ),
    (
        "KAZ",
        "CHN",
        "cum",
        27.6,
        (2013, 2019),
        "investment.csv bri_projects KAZ CHN 2019 (Kazakh DPM), read; BRI from Sep 2013",
    ),
    (
        "KAZ",
        "CHN",
        "flow",
        {2022: 1.4},
        (2020, 2024),
        "investment.csv fdi_gross_inflow KAZ CHN 2022 (Kazakh MFA), read; held 2020-2024 "
        "(assumption)",
    ),
    (
        "KAZ",
        "RUS",
        "flow",
        {2022: 1.5},
        (2015, 2024),
        "investment.csv fdi_gross_inflow KAZ RUS 2022 (Kazakh MFA), read; held since the "
        "EAEU, 2015-2024 (assumption)",
    ),
    (
        "UZB",
        "CHN",
        "cum",
        15.5,
        (2017, 2024),
        "investment.csv foreign_investment UZB CHN 2024/25 (vestikavkaza), read; window "
        "from Mirziyoyev's opening, 2017 (assumption)",
    ),
    (
        "UZB",
        "RUS",
        "cum",
        10.0,
        (2004, 2023),
        "investment.csv investment_cumulative UZB RUS (Lukoil) 2023 (Uzbek MoE), read; "
        "Lukoil's Kandym PSA from 2004",
    ),
    ("UZB", "RUS", "flow", {2024: 0.5}, (2024, 2024), "2024 at the 2004-2023 mean (assumption)"),
    (
        "UZB",
        "JPN",
        "flow",
        {2000: 0.060, 2010: 0.005, 2015: 0.116, 2020: 0.214, 2021: 0.284, 2023: 0.239},
        (2000, 2024),
        "aid.csv oda UZB JPN 2000, 2010, 2020 and investment.csv oda UZB JPN 2015, 2021, "
        "2023 (OECD DAC), read; interpolated, 2024 held",
    ),
    (
        "UZB",
        "USA",
        "flow",
        {2009: 0.00856, 2016: 0.0101, 2018: 0.0281, 2021: 0.03792},
        (2009, 2024),
        "aid.csv us_assistance UZB 2009, 2016, 2018, oda_net_bilateral UZB USA 2021 (WDI), "
        "read; interpolated, 2022-2024 held",
    ),
    (
        "KGZ",
        "CHN",
        "flow",
        {2015: 0.4744, 2018: 0.245},
        (2010, 2024),
        "fdi_positions.csv fdi_inflow KGZ CHN 2015 and fdi_inflow_share 2018 (43% of over "
        "USD 245m: 0.245 taken), read; held 2010-2014 and 2019-2024 (assumption)",
    ),
    (
        "KGZ",
        "RUS",
        "flow",
        {2015: 0.5155},
        (2010, 2024),
        "fdi_positions.csv fdi_inflow KGZ RUS 2015 (Kyrgyz NSC), read; held 2010-2024 (assumption)",
    ),
    (
        "KGZ",
        "USA",
        "flow",
        {2009: 0.05893, 2010: 0.03227, 2014: 0.04668, 2016: 0.03626, 2018: 0.0399, 2021: 0.04785},
        (2009, 2024),
        "aid.csv us_assistance KGZ 2009-2018 and oda_net_bilateral KGZ USA 2021, read; "
        "interpolated, 2022-2024 held",
    ),
    (
        "KGZ",
        "JPN",
        "flow",
        {2021: 0.01262},
        (2010, 2024),
        "aid.csv oda_net_bilateral KGZ JPN 2021 (WDI), read; held 2010-2024 (assumption)",
    ),
    (
        "TJK",
        "CHN",
        "cum",
        2.7,
        (2007, 2021),
        "fdi_positions.csv investment_cumulative TJK CHN 2007-2021 (Tajik stats), read",
    ),
    (
        "TJK",
        "CHN",
        "flow",
        {2022: 0.18},
        (2022, 2024),
        "2022-2024 at the 2007-2021 mean (assumption)",
    ),
    (
        "TJK",
        "RUS",
        "cum",
        0.9855,
        (2007, 2016),
        "fdi_positions.csv fdi_stock_in TJK RUS Oct 2016 (accumulated), read; window "
        "2007-2016 as for China (assumption)",
    ),
    (
        "TJK",
        "RUS",
        "flow",
        {2015: 0.035},
        (2017, 2024),
        "fdi_positions.csv fdi_inflow_share TJK RUS 2015 (USD 35m), read; held 2017-2024 "
        "(assumption)",
    ),
    (
        "TJK",
        "USA",
        "flow",
        {2021: 0.04775},
        (2010, 2024),
        "aid.csv oda_net_bilateral TJK USA 2021 (WDI), read; held 2010-2024 (assumption)",
    ),
    (
        "TJK",
        "JPN",
        "flow",
        {2021: 0.03028},
        (2010, 2024),
        "aid.csv oda_net_bilateral TJK JPN 2021 (WDI), read; held 2010-2024 (assumption)",
    ),
    (
        "TKM",
        "CHN",
        "cum",
        10.0,
        (2009, 2024),
        "Galkynysh and pipeline financing, USD 10bn (assumption, no row in shared/data), "
        "from the 2009 opening of the China line",
    ),
    ("TKM", "RUS", "cum", 1.0, (2009, 2024), "assumption (no row in shared/data)"),
    (
        "TKM",
        "USA",
        "flow",
        {2021: 0.00456},
        (2010, 2024),
        "aid.csv oda_net_bilateral TKM USA 2021 (WDI), read; held 2010-2024 (assumption)",
    ),
    (
        "TKM",
        "JPN",
        "flow",
        {2021: 0.00121},
        (2010, 2024),
        "aid.csv oda_net_bilateral TKM JPN 2021 (WDI), read; held 2010-2024 (assumption)",
    ),
]


def annual_flows(kind: str, data: object, window: tuple[int, int]) -> dict[int, float]:
    """Annual flows (USD bn) of one entry over its window."""
    years = range(window[0], window[1] + 1)
    if kind == "cum":
        return dict.fromkeys(years, float(data) / len(years))  # type: ignore[arg-type]
    pts = dict(sorted(data.items()))  # type: ignore[union-attr]
    xs, ys = list(pts), list(pts.values())
    return {y: float(np.interp(y, xs, ys)) for y in years}


def stock(flows: dict[int, float], delta: float = DELTA, base: int = BASE) -> float:
    """Perpetual inventory: ``sum_t I_t (1 - delta)^(base - t)``."""
    return sum(i * (1.0 - delta) ** (base - t) for t, i in flows.items())


# Baseline aimed budget: the latest observed annual flow to each recipient (USD bn/yr)
# and the share of the power's budget aimed by the observed pattern.
OBSERVED = {
    "JPN": ({"KAZ": 7.8 / 31, "UZB": 0.239, "KGZ": 0.01262, "TJK": 0.03028, "TKM": 0.00121}, None),
    "USA": ({"KAZ": 0.01533, "UZB": 0.03792, "KGZ": 0.04785, "TJK": 0.04775, "TKM": 0.00456}, None),
    "CHN": ({"KAZ": 1.4, "UZB": 15.5 / 8, "KGZ": 0.245, "TJK": 0.273}, 0.85),
    "RUS": ({"KAZ": 1.5, "UZB": 0.5, "KGZ": 0.5155, "TJK": 0.035}, 0.85),
}
BUDGET = {"CHN": 3.0, "RUS": 1.5, "JPN": 0.8, "USA": 1.0}


def budget_split(power: str) -> dict[str, float]:
    """Shares of ``power``'s baseline budget aimed by its observed flows.

    Where the observed flows fall short of the budget (Japan, the US: aid and FDI
    flows that are a part of the programme), each state gets flow / budget; where they
    exceed it (China, Russia: gross inflows including private money), the observed
    pattern is scaled to aim 85% of the budget (assumption), leaving the rest, and
    Turkmenistan (no flow data), to the power's own rule.
    """
    flows, aimed = OBSERVED[power]
    total = sum(flows.values())
    if aimed is None:
        return {s: round(f / BUDGET[power], 3) for s, f in flows.items()}
    return {s: round(aimed * f / total, 3) for s, f in flows.items()}


def main() -> None:
    """Print the stock table and the aimed-budget table."""
    print(f"| state | power | K_{BASE} (USD bn) | flows | source |")
    print("| --- | --- | --- | --- | --- |")
    totals: dict[tuple[str, str], float] = {}
    for s, p, kind, data, window, source in FLOWS:
        k = stock(annual_flows(kind, data, window))
        totals[(s, p)] = totals.get((s, p), 0.0) + k
        what = f"{data} over {window[0]}-{window[1]}" if kind == "cum" else f"{data}"
        print(f"| {s} | {p} | {k:.2f} | {what} | {source} |")
    print("\ninvestment_stock (sum of the rows above):")
    for s in ("KAZ", "UZB", "KGZ", "TJK", "TKM"):
        row = {p: round(totals[(s, p)], 2) for p in ("CHN", "RUS", "JPN", "USA")}
        print(f"  {s}: {row}")
    print("\nbudget_split (share of the baseline budget aimed at each state):")
    for p in BUDGET:
        split = budget_split(p)
        print(f"  {p}: {split}  (aimed {sum(split.values()):.3f})")


if __name__ == "__main__":
    main()
