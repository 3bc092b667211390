"""Ranking: duplicates merge with every source kept, picks are diverse, deterministic and novel."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.embed import load_embedder
from digest.extract import extract_insights
from digest.models import Insight, ItemData
from digest.rank import Embed, rank_insights
from digest.rank.similarity import jaccard, shingles
from digest.sources.seeds import read_seeds

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 24, 7, tzinfo=UTC)
DUPLICATED = "China isn't giving away its AI models out of generosity."


@pytest.fixture(scope="module", params=["tfidf", "wordllama"])
def embed(request: pytest.FixtureRequest) -> Embed | None:
    """Every seed test runs twice: without a model, and with the one the wheel ships."""
    if request.param == "tfidf":
        return None
    loaded = load_embedder()
    assert loaded is not None, "wordllama must load offline from its own package folder"
    return loaded


def rank(insights: list[Insight], **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {"now": NOW, "top_n": 5, "max_per_source": 2, "half_life_hours": 36.0}
    args.update(kw)
    return rank_insights(insights, **args)  # type: ignore[arg-type]


def seed_insights() -> list[Insight]:
    items = [it for r in read_seeds(ROOT / "seeds") for it in r.items]
    return extract_insights(items)


def test_seeds_give_five_distinct_picks_from_three_documents_or_more(embed: Embed | None) -> None:
    picks = rank(seed_insights(), embed=embed).selection.picks
    assert len(picks) == 5
    assert len({p.cluster.best.item.source for p in picks}) >= 3
    texts = [p.cluster.best.text for p in picks]
    for i, a in enumerate(texts):  # no two picks share a run of wording
        for b in texts[i + 1 :]:
            assert jaccard(shingles(a, 2), shingles(b, 2)) < 0.25, (a, b)


def test_paragraph_on_two_pages_is_one_insight_naming_both(embed: Embed | None) -> None:
    outcome = rank(seed_insights(), embed=embed)
    every = outcome.selection.picks + outcome.selection.runners_up
    holders = [s for s in every if s.cluster.best.text.startswith(DUPLICATED)]
    assert len(holders) == 1
    assert len(holders[0].cluster.source_names) == 2
    assert holders[0].features["corroboration"] > 0
    assert len(holders[0].cluster.related) == 1


def test_why_names_each_feature(embed: Embed | None) -> None:
    pick = rank(seed_insights(), embed=embed).selection.picks[0]
    for feature in ("corroboration", "informativeness", "structure", "recency", "interest", "novelty", "source_weight"):
        assert feature in pick.features


def test_input_order_does_not_change_picks(embed: Embed | None) -> None:
    insights = seed_insights()
    expected = [p.fingerprint for p in rank(insights, embed=embed).selection.picks]
    for seed in range(5):
        shuffled = insights[:]
        random.Random(seed).shuffle(shuffled)
        assert [p.fingerprint for p in rank(shuffled, embed=embed).selection.picks] == expected


def test_insights_sent_before_are_not_picked_again(embed: Embed | None) -> None:
    insights = seed_insights()
    first = rank(insights, embed=embed).selection.picks
    sent = [p.cluster.best.text for p in first]
    second = rank(insights, sent_texts=sent, embed=embed).selection.picks
    assert len(second) == 5
    assert not {p.fingerprint for p in first} & {p.fingerprint for p in second}


def test_interests_lift_matching_insights(embed: Embed | None) -> None:
    insights = seed_insights()

    def place_of_employment_insight(**kw: object) -> tuple[int, float]:
        outcome = rank(insights, top_n=5, embed=embed, **kw).selection
        ranked = [*outcome.picks, *outcome.runners_up]
        for place, s in enumerate(ranked):
            if "employment" in s.cluster.best.text:
                return place, s.features["interest"]
        return len(ranked), 0.0

    plain_place, plain_interest = place_of_employment_insight()
    place, interest = place_of_employment_insight(interests=["employment and labor displacement"])
    assert plain_interest == 0 and interest > 0
    assert place < plain_place
    assert place == 0


def make_insight(text: str, source: str, pos: int) -> Insight:
    item = ItemData(source=source, source_url=source, guid=f"g{pos}", title="t", text=text)
    return Insight(text=text, item=item, position=pos)


words = st.sampled_from(
    ["alpha", "beta", "gamma", "delta", "model", "chip", "policy", "export", "market", "open", "weight", "lab"]
)
sentences = st.lists(words, min_size=8, max_size=20).map(lambda ws: " ".join(ws).capitalize() + ".")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(sentences, st.sampled_from("abcd")), min_size=1, max_size=25), st.integers(1, 6))
def test_top_n_and_per_source_cap_hold(rows: list[tuple[str, str]], top_n: int) -> None:
    insights = [make_insight(t, s, i) for i, (t, s) in enumerate(rows)]
    picks = rank(insights, top_n=top_n, max_per_source=2).selection.picks
    assert len(picks) <= top_n
    sources = [p.cluster.best.item.source for p in picks]
    assert all(sources.count(s) <= 2 for s in sources)
    assert len({p.fingerprint for p in picks}) == len(picks)


def test_weights_change_the_order() -> None:
    insights = seed_insights()
    default = rank(insights, top_n=1).selection.picks[0]
    only_structure = {"corroboration": 0, "informativeness": 0, "structure": 1, "recency": 0, "interest": 0}
    steered = rank(insights, top_n=1, weights=only_structure).selection.picks[0]
    assert default.features["corroboration"] > 0  # by default the claim on two pages leads
    assert steered.features["structure"] == 1.0 and steered.fingerprint != default.fingerprint


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(sentences, st.sampled_from("abcd")), min_size=2, max_size=20), st.randoms())
def test_any_input_order_gives_the_same_picks(rows: list[tuple[str, str]], rnd: random.Random) -> None:
    insights = [make_insight(t, s, i) for i, (t, s) in enumerate(rows)]
    shuffled = insights[:]
    rnd.shuffle(shuffled)
    first, second = rank(insights).selection, rank(shuffled).selection
    assert [p.fingerprint for p in first.picks] == [p.fingerprint for p in second.picks]
    assert [p.cluster.members for p in first.picks] == [p.cluster.members for p in second.picks]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(sentences, st.sampled_from("abcd")), min_size=1, max_size=20))
def test_merging_is_idempotent(rows: list[tuple[str, str]]) -> None:
    from digest.rank.dedupe import cluster_insights
    from digest.rank.score import best_member
    from digest.rank.space import Space

    insights = sorted((make_insight(t, s, i) for i, (t, s) in enumerate(rows)), key=lambda i: i.key)
    space = Space.build([i.text for i in insights], None)
    clusters = cluster_insights(insights, space.same_claim, best_member)
    assert sorted(m.key for c in clusters for m in c.members) == sorted(i.key for i in insights)  # nothing lost
    # merging what was merged changes nothing: the members, fed again in cluster order, give the same partition
    flattened = [m for c in clusters for m in c.members]
    again = cluster_insights(flattened, Space.build([i.text for i in flattened], None).same_claim, best_member)

    def partition(cs: list) -> set[frozenset[tuple[str, int]]]:  # type: ignore[type-arg]
        return {frozenset(m.key for m in c.members) for c in cs}

    assert partition(again) == partition(clusters)
    assert {c.best.key for c in again} == {c.best.key for c in clusters}
