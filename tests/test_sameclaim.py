"""The same-claim decision: fixed weights, offline embeddings, and its score on people's labels."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from digest.embed import load_embedder
from digest.rank.sameclaim import THRESHOLD
from digest.rank.space import Space

ROOT = Path(__file__).resolve().parents[1]
MSRP = ROOT.parent / "shared" / "corpus" / "clusters" / "msrp" / "msr_paraphrase_train.txt"

COPY = (
    "Amrozi accused his brother, whom he called the witness, of deliberately distorting his evidence.",
    "Referring to him as only the witness, Amrozi accused his brother of deliberately distorting his evidence.",
)
OTHER = "Shares of the chip maker rose four percent after the company raised its forecast for the year."


@pytest.fixture(scope="module")
def embed():  # type: ignore[no-untyped-def]
    loaded = load_embedder()
    assert loaded is not None
    return loaded


def test_reworded_claim_is_the_same_and_another_story_is_not(embed) -> None:  # type: ignore[no-untyped-def]
    space = Space.build([*COPY, OTHER], embed)
    assert space.same_claim(0, 1) >= THRESHOLD
    assert space.same_claim(0, 2) < THRESHOLD
    assert space.semantic(0, 1) > space.semantic(0, 2)


def test_different_figures_lower_the_probability(embed) -> None:  # type: ignore[no-untyped-def]
    a = "Yucaipa sold the chain to Safeway in 1998 for $2.5 billion."
    b = "Yucaipa sold the chain to Safeway in 1998 for $1.8 billion."
    c = "Yucaipa sold the chain to Safeway in 1998 for $2.5 billion in cash."
    space = Space.build([a, b, c], embed)
    assert space.same_claim(0, 2) > space.same_claim(0, 1)


def test_works_without_a_model() -> None:
    space = Space.build([*COPY, OTHER], None)
    assert space.embeddings is None
    assert space.same_claim(0, 1) > space.same_claim(0, 2)


def test_eval_command_prints_metrics_as_json_on_its_last_line(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.tsv"
    rows = [
        "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String",
        f"1\t1\t2\t{COPY[0]}\t{COPY[1]}",
        f"0\t3\t4\t{COPY[0]}\t{OTHER}",
    ]
    pairs.write_text("\n".join(rows) + "\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "eval_same_claim.py"), str(pairs)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["pairs"] == 2 and result["accuracy"] == 1.0 and result["f1"] == 1.0


@pytest.mark.corpus
@pytest.mark.skipif(not MSRP.is_file(), reason=f"the MSRP pairs are not at {MSRP}")
def test_beats_always_same_on_msrp(embed) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "eval_same_claim.py"), str(MSRP)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    baseline = result["baseline_always_same"]
    assert result["accuracy"] >= baseline["accuracy"] + 0.04
    assert result["f1"] > baseline["f1"]


def test_three_sources_in_their_own_words_make_one_corroborated_insight(embed) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from digest.models import Insight, ItemData
    from digest.rank import rank_insights

    said = {
        "Wire": "Chinese open-source AI models are now the most downloaded in the world.",
        "Blog": "Open models from Chinese labs have become the most downloaded AI models in the world.",
        "Podcast": "Globally, the most downloaded open-source AI models now come from China.",
        "Brussels Daily": "The EU fined three AI providers a total of 41 million euros under the AI Act.",
    }
    insights = [
        Insight(text=t, item=ItemData(source=s, source_url=s, guid="1", title=s, text=t), position=0)
        for s, t in said.items()
    ]
    outcome = rank_insights(
        insights, now=datetime(2026, 11, 24, tzinfo=UTC), top_n=5, max_per_source=2, half_life_hours=36, embed=embed
    )
    assert outcome.clusters == 2
    lead = outcome.selection.picks[0]
    assert set(lead.cluster.source_names) == {"Wire", "Blog", "Podcast"}
    assert lead.features["corroboration"] == round(1 - 1 / 3, 4)
    assert len(lead.cluster.related) == 2
