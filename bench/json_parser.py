"""What the API parser's checks (depth before decoding, NUL and lone surrogates after) cost.

Times escalation_project.text_checks.loads_checked against plain json.loads on
- a typical 2 KB body (a conversation message with metadata),
- a body with many brackets (so the depth check cannot stop at counting them),
- a 1 MB body of many small arrays (the worst the body limit lets through).
No database or Redis: `.venv/bin/python bench/json_parser.py [--n 20000]`.
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from escalation_project.text_checks import loads_checked  # noqa: E402


def typical_body() -> str:
    body = {
        "role": "user",
        "content": "I was charged twice for my subscription this month and the second charge "
        "is still pending on my card. " * 10,
        "metadata": {
            "locale": "en-GB",
            "customer": {"id": "cus_8f3k2", "plan": "pro", "tags": ["vip", "eu", "annual"]},
            "channel": {"kind": "web", "page": "/billing/invoices", "session": "s-20931"},
            "tool_calls": [{"name": "lookup_invoice", "arguments": {"invoice": "INV-2291", "lines": [1, 2]}}],
        },
    }
    text = json.dumps(body)
    return text + " " * max(0, 2048 - len(text))


def bracketed_body() -> str:
    rows = [{"phrase": f"refund {i}", "weights": [i, i + 1], "tags": ["a", "b"]} for i in range(12)]
    return json.dumps({"parameters": {"phrases": rows}})


def worst_body() -> str:
    return "[" + ",".join(["[1,[2]]"] * 120_000) + "]"


def per_call_us(statement, n: int) -> float:
    return min(timeit.repeat(statement, number=n, repeat=5)) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    n = parser.parse_args().n
    for name, text, runs in [
        ("typical 2 KB", typical_body(), n),
        (f"{len(bracketed_body())} B, many brackets", bracketed_body(), n),
        (f"{len(worst_body()) // 1024} KB of small arrays", worst_body(), max(1, n // 2000)),
    ]:
        plain = per_call_us(lambda text=text: json.loads(text), runs)
        checked = per_call_us(lambda text=text: loads_checked(text), runs)
        print(f"{name:32} json.loads {plain:9.1f} us  checked {checked:9.1f} us  (+{checked - plain:.1f} us)")


if __name__ == "__main__":
    main()
