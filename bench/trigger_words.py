"""Accuracy of the built-in asks-for-human detector and the sentiment threshold, printed as tables.

    .venv/bin/python bench/trigger_words.py [--banking77 ../shared/corpora/banking77/test.csv]

- Asks for a human: recall and precision on the hand-written phrasings of
  tests/agents/human_phrasings.py (development set, and the held-out set written afterwards).
- Sentiment: for each threshold, how many hand-labelled furious messages fire, how many calm ones
  do (tests/agents/sentiment_messages.py), and how often real customer messages fire: Banking77's
  test split (CC BY 4.0, kept outside the repository), almost all calm questions.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "escalation_project.settings")

from agents.engine.matcher import (  # noqa: E402
    DEFAULT_SENTIMENT_THRESHOLD,
    MessageView,
    RuleSpec,
    compile_rules,
    negativity,
)
from tests.agents import human_phrasings, sentiment_messages  # noqa: E402


def human_table() -> None:
    matcher = compile_rules([RuleSpec(1, "human", "asks_for_human", {}, "")])

    def fired(text: str) -> bool:
        return bool(matcher.evaluate([MessageView("user", text)]))

    print("| asks for a human | requests | mentions | recall | precision | missed | false alarms |")
    print("|---|---:|---:|---:|---:|---|---|")
    sets = (
        ("development", human_phrasings.DEVELOPMENT_REQUESTS, human_phrasings.DEVELOPMENT_MENTIONS),
        ("held out", human_phrasings.HELD_OUT_REQUESTS, human_phrasings.HELD_OUT_MENTIONS),
    )
    for name, requests, mentions in sets:
        missed = [text for text in requests if not fired(text)]
        false = [text for text in mentions if fired(text)]
        hits = len(requests) - len(missed)
        precision = hits / (hits + len(false)) if hits + len(false) else 1.0
        print(
            f"| {name} | {len(requests)} | {len(mentions)} | {hits / len(requests):.2f} | {precision:.2f} "
            f"| {'; '.join(missed) or '—'} | {'; '.join(false) or '—'} |"
        )


def sentiment_table(banking77: Path | None) -> None:
    furious = [negativity(text) for text in sentiment_messages.FURIOUS]
    calm = [negativity(text) for text in sentiment_messages.CALM]
    real: list[float] = []
    if banking77 is not None and banking77.exists():
        with banking77.open(newline="") as handle:
            real = [negativity(row["text"]) for row in csv.DictReader(handle)]
    print(f"| threshold | furious fired ({len(furious)}) | calm fired ({len(calm)}) | Banking77 test fired |")
    print("|---:|---:|---:|---:|")
    for threshold in (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7):
        fired_real = sum(s >= threshold for s in real)
        share = f"{fired_real} of {len(real)} ({fired_real / len(real):.1%})" if real else "(no corpus)"
        mark = " (default)" if threshold == DEFAULT_SENTIMENT_THRESHOLD else ""
        print(
            f"| {threshold:.2f}{mark} | {sum(s >= threshold for s in furious)} "
            f"| {sum(s >= threshold for s in calm)} | {share} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--banking77", type=Path, default=ROOT.parent / "shared" / "corpora" / "banking77" / "test.csv"
    )
    args = parser.parse_args()
    human_table()
    print()
    sentiment_table(args.banking77)


if __name__ == "__main__":
    main()
