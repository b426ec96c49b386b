"""The one tidy layout (sim.output): metrics, labels from the vocabulary, row order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim import output
from sim.core.model import GeoModel
from sim.scenario import Scenario, parse_quarter
from sim.vocab import CHANNELS, COMMODITIES, DEFAULT, Vocabulary

#: The shipped world plus a sixth state (made up for the tests).
SIX_STATES = DEFAULT.with_actors({"AFG": ("state", "Afghanistan", None)})


@pytest.fixture(scope="module")
def model(short_loaded: Scenario) -> GeoModel:
    return GeoModel(scenario=short_loaded, replications=3, rng=9).run()


@pytest.fixture(scope="module")
def tidy(model: GeoModel, short_loaded: Scenario) -> pd.DataFrame:
    return output.to_tidy(
        model.history, model.replication_ids, model.start_quarter, short_loaded.vocab
    )


def _size(labels: tuple[str, ...] | None) -> int:
    return len(labels) if labels else 1


def naive_tidy(history, ids, start_quarter, vocab: Vocabulary) -> pd.DataFrame:
    """The tidy table built row by row and sorted by pandas (the reference)."""
    layout = output.metric_layout(vocab)
    rows = []
    for t, snap in enumerate(history):
        date = output.quarter_start(start_quarter + t)
        for name, values in snap.items():
            countries, partners = layout[name]
            arr = values.reshape(len(ids), _size(countries), _size(partners))
            for r, rid in enumerate(ids):
                for i, c in enumerate(countries or ("",)):
                    for j, p in enumerate(partners or ("",)):
                        rows.append((rid, t, date, c, p, name, arr[r, i, j]))
    df = pd.DataFrame(rows, columns=list(output.COLUMNS))
    df["date"] = df["date"].astype("datetime64[ns]")
    keys = ["replication", "step", "metric", "country", "partner"]
    return df.sort_values(keys, kind="stable", ignore_index=True)


def synthetic_history(vocab: Vocabulary, R: int = 2, T: int = 3) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    shapes = {
        "gdp": (R, len(vocab.states)),
        "budget": (R, len(vocab.powers)),
        "price_gas": (R,),
        "trade_share": (R, len(vocab.states), len(vocab.partners)),
        "influence_share": (R, len(vocab.states), len(vocab.influencers)),
    }
    return [{k: rng.random(s) for k, s in shapes.items()} for _ in range(T)]


# ------------------------------------------------------------------ the metric layout


def test_layout_lists_the_required_metrics() -> None:
    required = {"influence_share", "trade_share", "gdp", *(f"influence_{c}" for c in CHANNELS)}
    layout = output.metric_layout(DEFAULT)
    assert required <= set(layout)
    assert {f"price_{c}" for c in COMMODITIES} <= set(layout)


def test_layout_labels_come_from_the_vocabulary() -> None:
    layout = output.metric_layout(SIX_STATES)
    assert SIX_STATES.states[-1] == "AFG"
    assert layout["gdp"] == (SIX_STATES.states, None)
    assert layout["trade_share"] == (SIX_STATES.states, SIX_STATES.partners)
    assert layout["influence_share"] == (SIX_STATES.states, SIX_STATES.influencers)
    assert set(layout) == set(output.metric_layout(DEFAULT))


def test_row_layout_labels_include_a_sixth_state() -> None:
    names = output.check_metrics(None, SIX_STATES)
    six = output.row_layout(names, 2, parse_quarter("2025Q1"), SIX_STATES)
    five = output.row_layout(names, 2, parse_quarter("2025Q1"), DEFAULT)
    assert "AFG" in set(six.country)
    assert "AFG" not in set(five.country)
    layout = output.metric_layout(DEFAULT)
    per_state = sum(_size(p) for c, p in layout.values() if c == DEFAULT.states)
    assert six.per_step == five.per_step + per_state
    gdp = six.columns_of("gdp")
    assert list(six.country[gdp][: len(SIX_STATES.states)]) == sorted(SIX_STATES.states)


def test_to_tidy_with_a_sixth_state_matches_the_reference() -> None:
    history = synthetic_history(SIX_STATES)
    ids = np.array([4, 11])
    df = output.to_tidy(history, ids, parse_quarter("2030Q2"), SIX_STATES)
    pd.testing.assert_frame_equal(df, naive_tidy(history, ids, parse_quarter("2030Q2"), SIX_STATES))
    assert set(df[df.metric == "gdp"].country) == set(SIX_STATES.states)


@pytest.mark.parametrize(
    ("names", "match"),
    [(["no_such_metric"], "unknown metric"), ([], "non-empty"), (["gdp", "gdp"], "distinct")],
)
def test_check_metrics_rejects(names: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        output.check_metrics(names, DEFAULT)


def test_check_metrics_sorts() -> None:
    assert output.check_metrics(["gdp", "budget"], DEFAULT) == ("budget", "gdp")
    assert output.check_metrics(None, DEFAULT) == tuple(sorted(output.metric_layout(DEFAULT)))


# ------------------------------------------------------------------ single runs


def test_to_tidy_is_tidy_frame_of_the_same_values(model: GeoModel, tidy: pd.DataFrame) -> None:
    vocab = model.params.vocab
    layout = output.row_layout(
        output.check_metrics(None, vocab), model.T, model.start_quarter, vocab
    )
    values = output.join_steps(np.stack([output.step_values(h, layout) for h in model.history]))
    assert values.shape == (model.R, layout.rows)
    pd.testing.assert_frame_equal(
        tidy, output.tidy_frame(values, model.replication_ids, layout), check_exact=True
    )


def test_to_tidy_matches_the_row_by_row_reference(model: GeoModel, tidy: pd.DataFrame) -> None:
    vocab = model.params.vocab
    ref = naive_tidy(model.history, model.replication_ids, model.start_quarter, vocab)
    pd.testing.assert_frame_equal(tidy, ref, check_exact=True)


def test_tidy_columns_types_and_size(model: GeoModel, tidy: pd.DataFrame) -> None:
    assert tuple(tidy.columns) == output.COLUMNS
    layout = output.metric_layout(model.params.vocab)
    per_step = sum(_size(c) * _size(p) for c, p in layout.values())
    assert len(tidy) == model.R * model.T * per_step
    assert pd.api.types.is_integer_dtype(tidy.replication)
    assert pd.api.types.is_integer_dtype(tidy.step)
    assert pd.api.types.is_datetime64_any_dtype(tidy.date)
    assert pd.api.types.is_float_dtype(tidy.value)
    assert not tidy.duplicated(["replication", "step", "metric", "country", "partner"]).any()


def test_tidy_is_sorted(tidy: pd.DataFrame) -> None:
    keys = ["replication", "step", "metric", "country", "partner"]
    assert tidy.equals(tidy.sort_values(keys, kind="stable", ignore_index=True))


def test_tidy_labels_follow_the_layout(model: GeoModel, tidy: pd.DataFrame) -> None:
    for name, (countries, partners) in output.metric_layout(model.params.vocab).items():
        sel = tidy[tidy.metric == name]
        assert set(sel.country) == set(countries or ("",)), name
        assert set(sel.partner) == set(partners or ("",)), name


def test_dates_are_quarter_starts(short_loaded: Scenario, tidy: pd.DataFrame) -> None:
    dates = tidy.drop_duplicates("step").set_index("step").date
    assert dates.iloc[0] == pd.Timestamp("2025-01-01")
    assert dates.iloc[-1] == pd.Timestamp("2026-10-01")
    assert len(dates) == short_loaded.steps
    for q, text in [
        (parse_quarter("2025Q1"), "2025-01-01"),
        (parse_quarter("2031Q3"), "2031-07-01"),
    ]:
        assert output.quarter_start(q) == pd.Timestamp(text)


def test_tidy_values_are_the_model_arrays(model: GeoModel, tidy: pd.DataFrame) -> None:
    last = tidy[tidy.step == model.T - 1]
    v = DEFAULT

    def values(metric: str) -> np.ndarray:
        return last[last.metric == metric].value.to_numpy()

    # Final-step arrays, flattened in (replication, country, partner) order (labels sort
    # alphabetically in the table, so reorder through the label tuples).
    def expected(arr: np.ndarray, countries, partners) -> np.ndarray:
        ci = np.argsort(countries) if countries else [0]
        pi = np.argsort(partners) if partners else [0]
        arr = arr.reshape(model.R, len(ci), len(pi))
        return arr[:, ci][:, :, pi].reshape(-1)

    np.testing.assert_array_equal(
        values("influence_share"), expected(model.state.influence_share, v.states, v.influencers)
    )
    np.testing.assert_array_equal(
        values("trade_share"), expected(model.state.trade_share, v.states, v.partners)
    )
    np.testing.assert_array_equal(values("gdp"), expected(model.state.gdp, v.states, None))
    np.testing.assert_array_equal(
        values("investment_stock"), expected(model.state.inv, v.states, v.powers)
    )
    np.testing.assert_array_equal(
        values("budget"), expected(model.state.programme_budget * 4, v.powers, None)
    )
    oil = COMMODITIES.index("oil")
    np.testing.assert_array_equal(values("price_oil"), model.state.price[:, oil])
    np.testing.assert_array_equal(
        values("exports_oil"), expected(model.state.exports_volume[:, :, oil], v.states, v.partners)
    )


def test_to_tidy_round_trips_synthetic_history() -> None:
    v = DEFAULT
    history = [{k: h[k] for k in ("gdp", "budget", "price_gas")} for h in synthetic_history(v)]
    R, T = 2, 3
    ids = np.array([5, 9])
    df = output.to_tidy(history, ids, parse_quarter("2030Q2"), v)
    assert len(df) == R * T * (len(v.states) + len(v.powers) + 1)
    assert sorted(df.replication.unique()) == [5, 9]
    assert df.date.min() == pd.Timestamp("2030-04-01")
    for r, rid in enumerate(ids):
        for t in range(T):
            row = df[(df.replication == rid) & (df.step == t)]
            gdp = row[row.metric == "gdp"].set_index("country").value
            np.testing.assert_array_equal(gdp[list(v.states)].to_numpy(), history[t]["gdp"][r])
            budget = row[row.metric == "budget"].set_index("country").value
            np.testing.assert_array_equal(
                budget[list(v.powers)].to_numpy(), history[t]["budget"][r]
            )
            assert row[row.metric == "price_gas"].value.item() == history[t]["price_gas"][r]
    only = output.to_tidy(history, ids, 8100, v, metrics=("price_gas",))
    assert set(only.metric) == {"price_gas"}
    assert len(only) == R * T


def test_to_tidy_of_no_history_is_empty_with_columns() -> None:
    df = output.to_tidy([], np.array([0]), 8100, DEFAULT)
    assert tuple(df.columns) == output.COLUMNS
    assert df.empty
