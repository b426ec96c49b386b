"""The vocabulary: every actor, good, sector and channel casim knows, in one table.

Array axes everywhere in the package follow the order of a :class:`Vocabulary`'s
tuples. The shipped world is :data:`DEFAULT`: five Central Asian states, four powers,
two non-agent markets. A scenario may declare further actors (``actors:`` in its YAML,
see :meth:`Vocabulary.with_actors`); its vocabulary is then ``DEFAULT`` plus those, and
every layer below the scenario takes its labels from ``scenario.vocab`` rather than from
module constants, so no shape is hard-coded.

Colours: Okabe-Ito and Paul Tol hues, chosen to stay apart under the common forms of
colour-blindness. Actors a scenario adds without a colour get one from
:data:`EXTRA_COLOURS` in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

# ------------------------------------------------------------------ actors (shipped)

#: The five Central Asian states (ISO 3166-1 alpha-3), the exporting agents.
STATES: tuple[str, ...] = ("KAZ", "UZB", "KGZ", "TJK", "TKM")
#: The four great powers, the investing agents.
POWERS: tuple[str, ...] = ("CHN", "RUS", "JPN", "USA")
#: Non-agent markets: the European Union and the rest of the world. The last market is
#: the residual partner (trade targets are given for the others).
MARKETS: tuple[str, ...] = ("EU", "ROW")
#: The influence holder that stands for every market ("others").
OTHERS = "OTH"

NAMES: Mapping[str, str] = MappingProxyType(
    {
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
        "OTH": "Others (rest of the world)",
    }
)

#: One colour per actor, used in every figure: China vermillion, Russia indigo, Japan
#: reddish pink, United States blue, EU amber, the rest grey; the states' colours are
#: none of the powers'.
COLOURS: Mapping[str, str] = MappingProxyType(
    {
        "CHN": "#D55E00",
        "RUS": "#332288",
        "JPN": "#CC79A7",
        "USA": "#0072B2",
        "EU": "#E69F00",
        "ROW": "#8C8C8C",
        "OTH": "#8C8C8C",
        "KAZ": "#117733",
        "UZB": "#44AA99",
        "KGZ": "#999933",
        "TJK": "#88CCEE",
        "TKM": "#882255",
    }
)
#: Colours handed, in order, to actors a scenario declares without one (Tol muted).
EXTRA_COLOURS: tuple[str, ...] = ("#AA4499", "#DDCC77", "#661100", "#6699CC", "#AA4466")

# ------------------------------------------------------------------ goods

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
#: Resource commodities (everything but non-resource goods).
RESOURCES: tuple[str, ...] = tuple(c for c in COMMODITIES if c != "other")
#: Physical unit of annual capacity and flows for each commodity.
UNITS: Mapping[str, str] = MappingProxyType(
    {
        "oil": "Mt",
        "gas": "bcm",
        "uranium": "tU",
        "gold": "t",
        "copper": "kt",
        "critical_minerals": "kt",
        "other": "USD bn",
    }
)
#: Unit of each commodity's price.
PRICE_UNITS: Mapping[str, str] = MappingProxyType(
    {
        "oil": "USD/bbl",
        "gas": "USD per 1000 m3",
        "uranium": "USD/lb U3O8",
        "gold": "USD/oz",
        "copper": "USD/t",
        "critical_minerals": "USD/t (composite)",
        "other": "index (1 = base year)",
    }
)
#: Value of one physical unit at a price of 1, in USD bn (physical conversion factors).
#: oil: 7.33 bbl per tonne (BP Statistical Review conversion factors);
#: gas: 1 bcm = 1e6 thousand m3; uranium: 1 tU = 2599.8 lb U3O8 (World Nuclear Association);
#: gold: 32,150.7 troy oz per tonne; copper and critical minerals: 1 kt = 1000 t.
VALUE_FACTOR: Mapping[str, float] = MappingProxyType(
    {
        "oil": 7.33e6 / 1e9,
        "gas": 1e6 / 1e9,
        "uranium": 2599.8 / 1e9,
        "gold": 32150.7 / 1e9,
        "copper": 1e3 / 1e9,
        "critical_minerals": 1e3 / 1e9,
        "other": 1.0,
    }
)
#: Colours of the commodities (Japan supply figure); none is a power's colour.
COMMODITY_COLOURS: Mapping[str, str] = MappingProxyType(
    {
        "oil": "#3B3B3B",
        "gas": "#88CCEE",
        "uranium": "#117733",
        "gold": "#DDCC77",
        "copper": "#A6611A",
        "critical_minerals": "#44AA99",
        "other": "#BBBBBB",
    }
)

# ------------------------------------------------------------------ investment, influence

#: Investment sectors a power can fund.
SECTORS: tuple[str, ...] = ("energy", "mining", "transport", "other")
#: Which commodities each sector's completed projects add capacity or productivity to.
SECTOR_COMMODITIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "energy": ("oil", "gas"),
        "mining": ("uranium", "gold", "copper", "critical_minerals"),
        "transport": (),
        "other": ("other",),
    }
)
#: Motives in a power's allocation score.
PRIORITIES: tuple[str, ...] = ("influence", "resource_security", "return")
#: Influence channels (FBIC-style: economic, investment, political, security, plus the
#: region's own: labour-migrant remittances and public external debt).
CHANNELS: tuple[str, ...] = (
    "trade",
    "investment",
    "diplomacy",
    "security",
    "remittances",
    "debt",
)
#: Channels measured in money (flow or stock, USD bn): their weight in a state scales with
#: the state's exposure (total over GDP). The others are index channels (fixed scale).
MONEY_CHANNELS: tuple[str, ...] = ("trade", "investment", "remittances", "debt")
#: How each influence channel is drawn inside a power's bar: (opacity, hatch). The fill
#: keeps the power's colour, so channels differ by lightness and pattern.
CHANNEL_STYLE: Mapping[str, tuple[float, str]] = MappingProxyType(
    {
        "trade": (1.0, ""),
        "investment": (0.65, "///"),
        "diplomacy": (0.4, "..."),
        "security": (0.15, "xxx"),
        "remittances": (0.8, "\\\\"),
        "debt": (0.3, "ooo"),
    }
)
#: Blocs a state can belong to: the EAEU (trade), the CSTO and the SCO (security).
BLOCS: tuple[str, ...] = ("EAEU", "CSTO", "SCO")
#: Security alliances and the powers that lead them, with each leader's weight in the
#: security channel's alliance component (the SCO is led jointly).
ALLIANCES: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {"CSTO": MappingProxyType({"RUS": 1.0}), "SCO": MappingProxyType({"CHN": 0.5, "RUS": 0.5})}
)

Role = Literal["state", "power"]


@dataclass(frozen=True)
class Vocabulary:
    """The actors of one world, in array order, with display names and colours.

    Attributes:
        states: the Central Asian states (exporting agents).
        powers: the great powers (investing agents).
        markets: non-agent markets; the last one is the residual trade partner.
        names: display name of every code.
        colours: figure colour of every code.
        routes: export route id -> the commodities it carries, in the scenario's order
            (empty for a world without routes, such as :data:`DEFAULT`).
    """

    states: tuple[str, ...] = STATES
    powers: tuple[str, ...] = POWERS
    markets: tuple[str, ...] = MARKETS
    names: Mapping[str, str] = field(default_factory=lambda: dict(NAMES))
    colours: Mapping[str, str] = field(default_factory=lambda: dict(COLOURS))
    routes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def partners(self) -> tuple[str, ...]:
        """Every trade partner of a state: powers first, then markets."""
        return self.powers + self.markets

    @property
    def influencers(self) -> tuple[str, ...]:
        """Influence holders: the powers, then "others" (all markets together)."""
        return (*self.powers, OTHERS)

    @property
    def agents(self) -> tuple[str, ...]:
        """Every Mesa agent: the states, then the powers."""
        return self.states + self.powers

    @property
    def target_partners(self) -> tuple[str, ...]:
        """Partners whose base-year trade share a scenario gives (all but the residual)."""
        return self.partners[:-1]

    def routes_for(self, commodity: str) -> tuple[str, ...]:
        """The routes that carry ``commodity``, in the scenario's order."""
        return tuple(k for k, carried in self.routes.items() if commodity in carried)

    def with_routes(self, routes: Mapping[str, tuple[str, ...]]) -> Vocabulary:
        """This vocabulary with the given export routes (id -> commodities carried)."""
        return replace(self, routes=dict(routes))

    def name(self, code: str) -> str:
        """Display name of a code (the code itself if it has none)."""
        return self.names.get(code, code)

    def colour(self, code: str) -> str:
        """Figure colour of a code (grey if it has none)."""
        return self.colours.get(code, COLOURS["ROW"])

    def index(self, role: Literal["state", "power", "partner", "influencer"], code: str) -> int:
        """Array index of ``code`` on the axis of ``role``."""
        axis = {
            "state": self.states,
            "power": self.powers,
            "partner": self.partners,
            "influencer": self.influencers,
        }[role]
        return axis.index(code)

    def with_actors(self, actors: Mapping[str, tuple[Role, str, str | None]]) -> Vocabulary:
        """This vocabulary plus further actors, appended in the given order.

        Args:
            actors: code -> (role, display name, colour or None for the next free one).

        Raises:
            ValueError: if a code is already taken.
        """
        if not actors:
            return self
        names, colours = dict(self.names), dict(self.colours)
        states, powers = list(self.states), list(self.powers)
        taken = set(colours.values()) | {c for _, _, c in actors.values() if c}
        spare = iter(c for c in EXTRA_COLOURS if c not in taken)
        for code, (role, name, colour) in actors.items():
            if code in names or code in states or code in powers:
                msg = f"actor code {code!r} is already taken"
                raise ValueError(msg)
            (states if role == "state" else powers).append(code)
            names[code] = name
            colours[code] = colour or next(spare, COLOURS["ROW"])
        return Vocabulary(
            tuple(states), tuple(powers), self.markets, names, colours, dict(self.routes)
        )


#: The shipped world.
DEFAULT = Vocabulary()
