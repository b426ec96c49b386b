"""Fixed vocabularies: countries, partners, commodities, sectors, influence channels.

Array axes everywhere in the package follow the order of these tuples.
"""

from __future__ import annotations

#: The five Central Asian states (ISO 3166-1 alpha-3), the exporting agents.
STATES: tuple[str, ...] = ("KAZ", "UZB", "KGZ", "TJK", "TKM")
#: The four great powers, the investing agents.
POWERS: tuple[str, ...] = ("CHN", "RUS", "JPN", "USA")
#: Non-agent markets: the European Union and the rest of the world.
MARKETS: tuple[str, ...] = ("EU", "ROW")
#: Every trade partner of a Central Asian state (powers first, then markets).
PARTNERS: tuple[str, ...] = POWERS + MARKETS
#: Influence holders: the four powers and an explicit "others" (EU and rest of world).
INFLUENCERS: tuple[str, ...] = (*POWERS, "OTH")
#: All nine agents.
AGENTS: tuple[str, ...] = STATES + POWERS

NAMES: dict[str, str] = {
    "KAZ": "Kazakhstan",
    "UZB": "Uzbekistan",
    "KGZ": "Kyrgyzstan",
    "TJK": "Tajikistan",
    "TKM": "Turkmenistan",
    "CHN": "China",
    "RUS": "Russia",
    "JPN": "Japan",
    "USA": "United States",
    "EU": "European Union",
    "ROW": "Rest of world",
    "OTH": "Others (EU and rest of world)",
}

#: Traded goods. ``other`` is all non-resource goods, measured directly in USD bn.
COMMODITIES: tuple[str, ...] = (
    "oil",
    "gas",
    "uranium",
    "gold",
    "copper",
    "critical_minerals",
    "other",
)
#: Physical unit of annual capacity and flows for each commodity.
UNITS: dict[str, str] = {
    "oil": "Mt",
    "gas": "bcm",
    "uranium": "tU",
    "gold": "t",
    "copper": "kt",
    "critical_minerals": "kt",
    "other": "USD bn",
}
#: Unit of each commodity's price.
PRICE_UNITS: dict[str, str] = {
    "oil": "USD/bbl",
    "gas": "USD per 1000 m3",
    "uranium": "USD/lb U3O8",
    "gold": "USD/oz",
    "copper": "USD/t",
    "critical_minerals": "USD/t (composite)",
    "other": "index (1 = base year)",
}
#: Value of one physical unit at a price of 1, in USD bn (physical conversion factors).
#: oil: 7.33 bbl per tonne (BP Statistical Review conversion factors);
#: gas: 1 bcm = 1e6 thousand m3; uranium: 1 tU = 2599.8 lb U3O8 (World Nuclear Association);
#: gold: 32,150.7 troy oz per tonne; copper and critical minerals: 1 kt = 1000 t.
VALUE_FACTOR: dict[str, float] = {
    "oil": 7.33e6 / 1e9,
    "gas": 1e6 / 1e9,
    "uranium": 2599.8 / 1e9,
    "gold": 32150.7 / 1e9,
    "copper": 1e3 / 1e9,
    "critical_minerals": 1e3 / 1e9,
    "other": 1.0,
}

#: Investment sectors a power can fund.
SECTORS: tuple[str, ...] = ("energy", "mining", "transport", "other")
#: Which commodities each sector's completed projects add capacity or productivity to.
SECTOR_COMMODITIES: dict[str, tuple[str, ...]] = {
    "energy": ("oil", "gas"),
    "mining": ("uranium", "gold", "copper", "critical_minerals"),
    "transport": (),
    "other": ("other",),
}
#: Influence channels (FBIC-style: economic, investment, political, security).
CHANNELS: tuple[str, ...] = ("trade", "investment", "diplomacy", "security")
#: Trade blocs a state can belong to.
BLOCS: tuple[str, ...] = ("EAEU", "CSTO")


def state_index(code: str) -> int:
    """Return the array index of a Central Asian state."""
    return STATES.index(code)


def power_index(code: str) -> int:
    """Return the array index of a power."""
    return POWERS.index(code)
