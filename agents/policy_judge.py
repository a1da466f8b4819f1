"""Policy rules' judge: an OpenAI-compatible chat-completions endpoint asked for a verdict.

judge(...) asks about every policy rule of one message at once and always
returns, within POLICY_JUDGE_TIMEOUT_SECONDS (plus a few milliseconds): a
timeout, a refused connection, a 429, a 5xx or an answer that is not a
verdict skips the rule (agents.engine.policy's outcomes), and is counted in
the metrics and logged. It never raises for the judge's trouble, so a message
post never fails because of it.

- The budget is one deadline for all the message's rules together. Each call
  runs on a worker thread and the caller waits for the futures until the
  deadline, so a server that trickles its answer cannot stretch it either;
  the abandoned call ends on its own socket timeout (the same budget).
- Concurrency: at most POLICY_JUDGE_MAX_CONCURRENCY calls in flight per
  process (a semaphore, the worker pool the same size). A message that finds
  every slot taken waits for one within its budget, then skips the rule: a
  slow or dead judge costs each message its budget at most, never a queue.
- Cache: a verdict (escalate or not) is kept under the rule, the agent's rules
  version and a digest of the exact request, so a retried post, a dry run or
  a rule-test run of the same messages asks once. Skips are not kept: the
  next message asks again.
- The URL is the operator's (settings), not a user's: no webhook-style
  address filter, since a local Ollama or vLLM on loopback or a private
  network is the common case. Redirects are not followed (the key would go
  with them). The key goes in the Authorization header only; it is never
  logged, and neither the URL (it may hold credentials) nor the provider's
  error text (OpenAI's echoes part of a wrong key) is put in a detail.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from django.conf import settings
from django.core.cache import cache

from agents.engine import policy
from agents.engine.matcher import MessageView, RuleSpec
from agents.engine.policy import Judgement, MalformedVerdict, Verdict
from escalation_project import metrics

logger = logging.getLogger(__name__)

# A verdict is a few hundred bytes; an answer larger than this is not one.
MAX_ANSWER_BYTES = 256 * 1024
USER_AGENT = "EscalationConsole-PolicyJudge/1"
NOT_CONFIGURED = (
    "no policy judge is configured on this server (set POLICY_JUDGE_BASE_URL and POLICY_JUDGE_MODEL)"
)


def configured() -> bool:
    return bool(settings.POLICY_JUDGE_BASE_URL and settings.POLICY_JUDGE_MODEL)


def chat_url() -> str:
    """The base URL with /chat/completions added to its path; a query string (Azure's api-version) is kept."""
    parts = urlsplit(settings.POLICY_JUDGE_BASE_URL)
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path += "/chat/completions"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def judge(
    *, description: str, rules_version: int, rules: Sequence[RuleSpec], history: Sequence[MessageView]
) -> list[Judgement]:
    """A judgement per rule (in their order) on the newest message of history.

    Call with the rules that apply to that message's role, and outside any
    transaction: this waits up to the budget on the network.
    """
    if not rules or not history:
        return []
    if not configured():
        judgements = [Judgement(spec, policy.SKIPPED_UNCONFIGURED, detail=NOT_CONFIGURED) for spec in rules]
        _report(judgements)
        return judgements
    url, model = chat_url(), settings.POLICY_JUDGE_MODEL
    asks = []
    for spec in rules:
        body = policy.chat_request(spec, model=model, description=description, history=history)
        key = f"policy-verdict:{spec.id}:{rules_version}:{policy.request_digest(body, url=url)}"
        asks.append((spec, body, key, len(policy.messages_sent(spec, history))))
    stored = cache.get_many([key for _, _, key, _ in asks])
    results: dict[str, Judgement] = {}
    pending = []
    for spec, body, key, sent in asks:
        verdict = _verdict_from_cache(stored.get(key))
        if verdict is None:
            pending.append((spec, body, key, sent))
            continue
        recorded = {"model": model, "cached": True, "messages_sent": sent}
        outcome = policy.ESCALATE if verdict.escalate else policy.NO
        results[key] = Judgement(spec, outcome, verdict, cached=True, recorded=recorded)
    if pending:
        results.update(_ask(pending, url=url, model=model))
    judgements = [results[key] for _, _, key, _ in asks]
    fresh = {
        key: results[key].verdict.as_dict() for _, _, key, _ in pending if results[key].verdict is not None
    }
    if fresh and settings.POLICY_JUDGE_CACHE_SECONDS:
        cache.set_many(fresh, timeout=settings.POLICY_JUDGE_CACHE_SECONDS)
    _report(judgements)
    return judgements


def _ask(pending: list[tuple[RuleSpec, dict, str, int]], *, url: str, model: str) -> dict[str, Judgement]:
    budget = settings.POLICY_JUDGE_TIMEOUT_SECONDS
    deadline = time.monotonic() + budget
    slots, workers = _capacity()
    results: dict[str, Judgement] = {}
    futures: dict[Future, tuple[RuleSpec, str, int]] = {}
    for spec, body, key, sent in pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not slots.acquire(timeout=remaining):
            detail = f"the judge was busy ({settings.POLICY_JUDGE_MAX_CONCURRENCY} calls in flight)"
            results[key] = Judgement(spec, policy.SKIPPED_BUSY, detail=detail)
            continue
        futures[workers.submit(_call_holding, slots, url, body, remaining)] = (spec, key, sent)
    wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    for future, (spec, key, sent) in futures.items():
        if not future.done():
            if future.cancel():  # never started: its slot was never going to be given back
                slots.release()
            detail = f"no verdict within {budget:g} s"
            results[key] = Judgement(spec, policy.SKIPPED_TIMEOUT, detail=detail, seconds=budget)
            continue
        outcome, verdict, detail, seconds = future.result()
        recorded = {
            "model": model,
            "cached": False,
            "messages_sent": sent,
            "duration_ms": round(seconds * 1000),
        }
        results[key] = Judgement(spec, outcome, verdict, detail, seconds=seconds, recorded=recorded)
    return results


def _call_holding(
    slots: threading.BoundedSemaphore, url: str, body: dict, timeout: float
) -> tuple[str, Verdict | None, str, float]:
    """_call on a worker thread, giving the slot back when the call ends (also after its caller gave up)."""
    started = time.monotonic()
    try:
        outcome, verdict, detail = _call(url, body, timeout)
    except Exception:  # a bug here must not leak a slot, nor fail the post
        logger.exception("The policy judge call failed unexpectedly.")
        outcome, verdict, detail = policy.SKIPPED_ERROR, None, "the call failed unexpectedly"
    finally:
        slots.release()
    return outcome, verdict, detail, time.monotonic() - started


class _Bearer(requests.auth.AuthBase):
    """The key as a bearer token. As an auth object, not a header: requests then never
    replaces it with credentials from a .netrc file."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._key}"
        return request

    def __repr__(self) -> str:
        return "_Bearer(<hidden>)"


_per_thread = threading.local()


def _session() -> requests.Session:
    """This worker thread's session: keeps the connection to the judge alive between calls."""
    session = getattr(_per_thread, "session", None)
    if session is None:
        session = _per_thread.session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
    return session


def _call(url: str, body: dict, timeout: float) -> tuple[str, Verdict | None, str]:
    key = settings.POLICY_JUDGE_API_KEY
    try:
        response = _session().post(
            url,
            json=body,
            auth=_Bearer(key) if key else None,
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        )
    except requests.Timeout:
        return policy.SKIPPED_TIMEOUT, None, f"no verdict within {timeout:g} s"
    except requests.RequestException as exc:
        logger.warning("Policy judge unreachable: %s", type(exc).__name__)
        return policy.SKIPPED_ERROR, None, "could not connect to the judge"
    with response:
        status = response.status_code
        if status == 429:
            return policy.SKIPPED_RATE_LIMITED, None, "the judge is rate-limiting us (HTTP 429)"
        if status >= 500:
            return policy.SKIPPED_ERROR, None, f"the judge failed (HTTP {status})"
        if status != 200:
            # Not the body: a provider's 401 text can echo part of the key.
            return policy.SKIPPED_ERROR, None, f"the judge refused the request (HTTP {status})"
        try:
            raw = response.raw.read(MAX_ANSWER_BYTES + 1, decode_content=True) or b""
        except urllib3.exceptions.ReadTimeoutError:
            return policy.SKIPPED_TIMEOUT, None, f"no verdict within {timeout:g} s"
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            logger.warning("Policy judge answer cut off: %s", type(exc).__name__)
            return policy.SKIPPED_ERROR, None, "the judge's answer was cut off"
    if len(raw) > MAX_ANSWER_BYTES:
        return policy.SKIPPED_MALFORMED, None, "the answer is too large to be a verdict"
    try:
        data = json.loads(raw)
    except ValueError:
        return policy.SKIPPED_MALFORMED, None, "the answer is not JSON"
    try:
        verdict = policy.parse_chat_response(data)
    except MalformedVerdict as problem:
        return policy.SKIPPED_MALFORMED, None, str(problem)
    return (policy.ESCALATE if verdict.escalate else policy.NO), verdict, ""


def _verdict_from_cache(stored: Any) -> Verdict | None:
    if not isinstance(stored, dict):
        return None
    try:
        return policy.parse_verdict(json.dumps(stored))
    except MalformedVerdict:
        return None  # written by another version of this module: ask again


_capacity_lock = threading.Lock()
_capacities: dict[int, tuple[threading.BoundedSemaphore, ThreadPoolExecutor]] = {}


def _capacity() -> tuple[threading.BoundedSemaphore, ThreadPoolExecutor]:
    """The process's slots and workers, as many of each: a call holding a slot always has a thread.

    Keyed by the setting so a test (or a settings change) that sets another size gets its own.
    """
    size = settings.POLICY_JUDGE_MAX_CONCURRENCY
    with _capacity_lock:
        if size not in _capacities:
            workers = ThreadPoolExecutor(max_workers=size, thread_name_prefix="policy-judge")
            _capacities[size] = (threading.BoundedSemaphore(size), workers)
        return _capacities[size]


def _report(judgements: Sequence[Judgement]) -> None:
    for judgement in judgements:
        if judgement.skipped:
            # The rule and why; never the key, the URL or the conversation.
            logger.warning(
                "Policy rule %s (%s) skipped: %s: %s",
                judgement.spec.id,
                judgement.spec.name,
                judgement.outcome,
                judgement.detail,
            )
    metrics.policy_judgements([(j.outcome, j.cached, j.seconds) for j in judgements])
