"""Accuracy of the built-in asks-for-human detector and the sentiment threshold, printed as tables.

    .venv/bin/python bench/trigger_words.py [--banking77 ../shared/corpora/banking77/test.csv] [--speed]

- Asks for a human: recall and precision on the hand-written phrasings of
  tests/agents/human_phrasings.py (development set, and the held-out set written afterwards).
- Sentiment: for each threshold, how many hand-labelled furious messages fire, how many calm ones
  do (tests/agents/sentiment_messages.py), and how often real customer messages fire: Banking77's
  test split (CC BY 4.0, kept outside the repository), almost all calm questions.
- --speed: what typos cost, on bench/triggers.py's 1,000 phrase + 100 regex rules: the same
  rules with typos on (the default) and off, side by side, messages that match nothing and 1%.
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


def human_table(banking77: Path | None) -> None:
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
    texts = _banking77(banking77)
    if texts:
        # Real messages to a bank, none of whose 77 intents is "a person, please": what fires here
        # is a false alarm, or a polite "can someone assist me".
        fires = [text for text in texts if fired(text)]
        print(f"\nBanking77 test split: fires on {len(fires)} of {len(texts)}:")
        for text in fires:
            print(f"- {text}")


def _banking77(path: Path | None) -> list[str]:
    if path is None or not path.exists():
        return []
    with path.open(newline="") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def sentiment_table(banking77: Path | None) -> None:
    furious = [negativity(text) for text in sentiment_messages.FURIOUS]
    calm = [negativity(text) for text in sentiment_messages.CALM]
    real = [negativity(text) for text in _banking77(banking77)]
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


def speed_table() -> None:
    import dataclasses
    import random

    sys.path.insert(0, str(ROOT / "bench"))
    import triggers

    rules, phrases = triggers.make_rules(random.Random(7), 1_000, 100)
    no_typos = [
        dataclasses.replace(rule, parameters={**rule.parameters, "typos": False})
        if rule.kind == "phrases"
        else rule
        for rule in rules
    ]
    print("| typos | with a phrase | msg/s (warm) | p50 µs | p99 µs | hits |")
    print("|---|---:|---:|---:|---:|---:|")
    for hit_rate in (0.0, 0.01):
        messages = triggers.make_messages(random.Random(8), 10_000, phrases, hit_rate)
        for name, specs in (("on", rules), ("off", no_typos)):
            result = triggers.measure(compile_rules(specs), messages)
            print(
                f"| {name} | {hit_rate:.0%} | {result['msg_s']:,.0f} | {result['p50_us']:.1f} "
                f"| {result['p99_us']:.1f} | {result['hits']:,} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--banking77", type=Path, default=ROOT.parent / "shared" / "corpora" / "banking77" / "test.csv"
    )
    parser.add_argument("--speed", action="store_true", help="also measure what typos cost")
    args = parser.parse_args()
    human_table(args.banking77)
    print()
    sentiment_table(args.banking77)
    if args.speed:
        print()
        speed_table()


if __name__ == "__main__":
    main()
