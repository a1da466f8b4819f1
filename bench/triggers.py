"""Trigger engine throughput: 1,000 phrase rules + 100 regex rules, 10,000 messages of ~200 chars.

The last table adds 50 intent rules (10 should + 10 should-not examples each): every
message is then embedded once and scored against all of them in one matrix product.

Pure: compiles RuleSpecs and calls Matcher.evaluate, no database, one thread.
    .venv/bin/python bench/triggers.py [--messages 10000] [--phrase-rules 1000] [--regex-rules 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "escalation_project.settings")

from agents.engine.matcher import MessageView, RuleSpec, compile_rules  # noqa: E402

VOCABULARY = (
    "order parcel delivery tracking account password invoice payment card address shipping return "
    "item size colour price discount coupon store online website email phone number week today "
    "yesterday tomorrow please thanks hello still waiting again help question problem issue update "
    "customer service checkout basket cart product stock available delayed late missing broken"
).split()


def syllables(rng: random.Random) -> str:
    return "".join(rng.choice("bcdfghjklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))


def make_rules(rng: random.Random, phrase_rules: int, regex_rules: int) -> tuple[list[RuleSpec], list[str]]:
    rules, all_phrases = [], []
    for n in range(phrase_rules):
        # Two invented words per rule (one two-word phrase, one prefix), plus an exception on every
        # tenth: ~2,100 phrases in the Set, none of which the filler vocabulary contains by chance.
        phrases = [f"{syllables(rng)} {syllables(rng)}", f"{syllables(rng)}*"]
        all_phrases.extend(p.rstrip("*") for p in phrases)
        rules.append(
            RuleSpec(
                id=n + 1,
                name=f"phrases {n}",
                kind="phrases",
                parameters={"phrases": phrases},
                exception_phrases=(f"{syllables(rng)} policy",) if n % 10 == 0 else (),
                reason_template="Said {phrase}",
                severity=rng.choice(["info", "warning", "critical"]),
                order=n,
            )
        )
    for n in range(regex_rules):
        pattern = rf"\b{syllables(rng).upper()}-\d{{{rng.randint(4, 8)}}}\b|(?i)\bcode\s+{syllables(rng)}\d+"
        rules.append(
            RuleSpec(
                id=phrase_rules + n + 1,
                name=f"regex {n}",
                kind="regex",
                parameters={"pattern": pattern},
                reason_template="Matched {text}",
                order=phrase_rules + n,
            )
        )
    return rules, all_phrases


def make_messages(rng: random.Random, count: int, phrases: list[str], hit_rate: float) -> list[str]:
    messages = []
    for _ in range(count):
        words = []
        while sum(len(w) + 1 for w in words) < 200:
            words.append(rng.choice(VOCABULARY))
        if rng.random() < hit_rate:
            words[rng.randrange(len(words))] = rng.choice(phrases).title()
        messages.append(" ".join(words)[:200].rstrip())
    return messages


EXTRA_RULES = [
    RuleSpec(
        id=90_001,
        name="amount",
        kind="amount",
        parameters={"phrases": ["refund"], "limit": 100},
        reason_template="Refund of {amount} (limit {limit})",
    ),
    RuleSpec(
        id=90_002, name="human", kind="asks_for_human", parameters={}, reason_template="Asked: {phrase}"
    ),
    RuleSpec(
        id=90_003,
        name="angry",
        kind="sentiment",
        parameters={"threshold": 0.6, "last_n": 3},
        reason_template="Angry {score}",
    ),
    RuleSpec(
        id=90_004,
        name="loop",
        kind="loop",
        parameters={"repeats": 3, "similarity": 0.9},
        applies_to="both",
        reason_template="Repeated {count} times",
    ),
]


def measure(matcher, messages: list[str], *, context: int = 0) -> dict[str, float]:
    # `context` earlier messages (alternating agent/user) before each evaluated one.
    histories = [
        [
            MessageView("agent" if k % 2 else "user", messages[(i - context + k) % len(messages)])
            for k in range(context)
        ]
        + [MessageView("user", text)]
        for i, text in enumerate(messages)
    ]
    evaluate = matcher.evaluate
    # Cold: each phrase's exact (word-boundary) pattern is compiled on its first hit.
    start = time.perf_counter()
    hits = sum(len(evaluate(history)) for history in histories)
    cold = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    for history in histories:
        evaluate(history)
    elapsed = time.perf_counter() - start
    # CPU seconds of this process: msg/s per core even when other work shares the machine.
    cpu = time.process_time() - cpu_start
    times = []
    clock = time.perf_counter_ns
    for history in histories:
        t0 = clock()
        evaluate(history)
        times.append(clock() - t0)
    times.sort()
    return {
        "msg_s": len(messages) / elapsed,
        "cpu_msg_s": len(messages) / cpu,
        "cold_msg_s": len(messages) / cold,
        "p50_us": times[len(times) // 2] / 1000,
        "p99_us": times[int(len(times) * 0.99)] / 1000,
        "max_us": times[-1] / 1000,
        "mean_us": statistics.fmean(times) / 1000,
        "hits": hits,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--phrase-rules", type=int, default=1_000)
    parser.add_argument("--regex-rules", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--intent-rules", type=int, default=50)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    rules, phrases = make_rules(rng, args.phrase_rules, args.regex_rules)
    t0 = time.perf_counter()
    matcher = compile_rules(rules)
    compile_ms = (time.perf_counter() - t0) * 1000
    assert matcher.rule_count == len(rules), "every generated rule must compile"

    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs; one thread")
    print(
        f"{args.phrase_rules} phrase rules ({len(phrases)} phrases) + {args.regex_rules} regex rules: "
        f"compiled in {compile_ms:.0f} ms"
    )
    print()
    print(
        "| messages | with a phrase | msg/s (first pass) | msg/s (warm) | p50 µs | p99 µs | max µs | hits |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for hit_rate in (0.0, 0.01, 0.10):
        matcher = compile_rules(rules)  # fresh each row: the first pass is really cold
        messages = make_messages(random.Random(args.seed + 1), args.messages, phrases, hit_rate)
        result = measure(matcher, messages)
        print(
            f"| {len(messages):,} | {hit_rate:.0%} | {result['cold_msg_s']:,.0f} | {result['msg_s']:,.0f} "
            f"| {result['p50_us']:.1f} "
            f"| {result['p99_us']:.1f} | {result['max_us']:.0f} | {result['hits']:,} |"
        )

    print()
    print("The same plus one rule each of amount, asks-for-human, sentiment (last_n 3) and loop, every")
    print("message evaluated with 9 earlier messages as history (sentiment and loop read it):")
    print()
    print(
        "| messages | with a phrase | msg/s (first pass) | msg/s (warm) | p50 µs | p99 µs | max µs | hits |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for hit_rate in (0.0, 0.01):
        matcher = compile_rules([*rules, *EXTRA_RULES])
        messages = make_messages(random.Random(args.seed + 1), args.messages, phrases, hit_rate)
        result = measure(matcher, messages, context=9)
        print(
            f"| {len(messages):,} | {hit_rate:.0%} | {result['cold_msg_s']:,.0f} | {result['msg_s']:,.0f} "
            f"| {result['p50_us']:.1f} "
            f"| {result['p99_us']:.1f} | {result['max_us']:.0f} | {result['hits']:,} |"
        )

    print()
    print(
        f"The same 1,000 phrase + 100 regex rules without and with {args.intent_rules} intent rules "
        "(one message of history, side by side):"
    )
    print()
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start of this table)")
    print()
    print("| rules | msg/s (warm, wall) | msg/s per core (CPU time) | p50 µs | p99 µs | ratio of p50 |")
    print("|---|---:|---:|---:|---:|---:|")
    messages = make_messages(random.Random(args.seed + 1), args.messages, phrases, 0.01)
    without = measure(compile_rules(rules), messages)
    with_intents = measure(compile_rules([*rules, *make_intent_rules(rng, args.intent_rules)]), messages)
    for label, result in (("phrases + regex", without), (f"+ {args.intent_rules} intent", with_intents)):
        print(
            f"| {label} | {result['msg_s']:,.0f} | {result['cpu_msg_s']:,.0f} | {result['p50_us']:.1f} "
            f"| {result['p99_us']:.1f} "
            f"| {result['p50_us'] / without['p50_us']:.2f} |"
        )


def make_intent_rules(rng: random.Random, count: int) -> list[RuleSpec]:
    # Each intent on its own invented topic words plus common ones, as the phrase rules are:
    # the filler messages are about none of them, so (as in production) most fire nothing.
    def sentence(topic: list[str]) -> str:
        words = [rng.choice(topic) for _ in range(3)] + [
            rng.choice(VOCABULARY) for _ in range(rng.randint(3, 8))
        ]
        rng.shuffle(words)
        return " ".join(words)

    topics = [[syllables(rng) for _ in range(5)] for _ in range(count)]

    return [
        RuleSpec(
            id=80_000 + n,
            name=f"intent {n}",
            kind="intent",
            parameters={
                "description": sentence(topics[n]),
                "should": [sentence(topics[n]) for _ in range(10)],
                "should_not": [sentence(topics[(n + 1) % count]) for _ in range(10)],
            },
            reason_template="Like {example} ({score})",
        )
        for n in range(count)
    ]


if __name__ == "__main__":
    main()
