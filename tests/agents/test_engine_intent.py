"""Intent rules and exception examples: hits, near misses, evidence, validation, the model's loading."""

import socket
import sys
import threading

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from agents.engine import intent
from agents.engine.matcher import MessageView, compile_rules
from agents.rule_parameters import validate_parameters, validate_reason_template
from tests.agents.conftest import fires, spec

REFUNDS = {
    "description": "refund requests",
    "should": [
        "I want my money back for this order",
        "Please refund the shoes I bought, they don't fit",
        "Can I get a refund for the item I purchased?",
        "I would like a refund for something I bought",
    ],
    "should_not": [
        "What is your refund policy?",
        "My refund has not shown up in my account yet",
        "Thanks, I received the refund",
    ],
}
REFUND_RULE = spec(
    "intent", REFUNDS, reason_template="Refund request, like “{example}” ({score} ≥ {threshold})"
)


@pytest.mark.parametrize(
    "text",
    [
        "I want my money back for the order I placed",
        "I'd like a refund for the item I bought last week",
        "I need a refund?",
        # Missed by the earlier "closer to should than to should_not" gate: the boundary
        # examples share the word "refund".
        "I need to do a refund",
    ],
)
def test_an_intent_fires_on_messages_that_mean_the_same_in_other_words(text):
    (hit,) = fires(REFUND_RULE, text)
    assert hit.kind == "intent"


@pytest.mark.parametrize(
    "text",
    [
        "Where can I read your policy about refunds?",
        "Has my refund come through yet? I asked last week",
        "What time do you open on Sundays?",
        "My parcel is late, where is it?",
        "",
    ],
)
def test_an_intent_near_miss_or_unrelated_message_does_not_fire(text):
    assert fires(REFUND_RULE, text) == []


def test_the_evidence_names_the_closest_should_example_the_score_and_the_threshold():
    (hit,) = fires(REFUND_RULE, "I'd like a refund for the item I bought last week")
    evidence = hit.evidence[0]
    assert evidence["example"] == "I would like a refund for something I bought"
    assert float(evidence["score"]) >= intent.DEFAULT_THRESHOLD
    assert evidence["threshold"] == f"{intent.DEFAULT_THRESHOLD:.2f}"
    assert -1 <= evidence["boundary_score"] <= 1  # cosine to the should_not centroid
    assert hit.reason == (
        f"Refund request, like “I would like a refund for something I bought” "
        f"({evidence['score']} ≥ {evidence['threshold']})"
    )


def test_a_false_positive_added_as_should_not_stops_it_and_the_requests_still_fire():
    # What the learning loop does with a supervisor's "not needed" mark.
    status_question = "Is the refund for my order on its way?"
    assert len(fires(REFUND_RULE, status_question)) == 1
    corrected = spec("intent", intent.with_examples(REFUNDS, should_not=[status_question]))
    assert fires(corrected, status_question) == []
    assert fires(corrected, "Can you tell me when my refund will arrive?") == []
    assert len(fires(corrected, "I want my money back for the order I placed")) == 1


def test_the_score_is_near_plus_one_for_the_examples_and_negative_for_unrelated_messages():
    (hit,) = fires(REFUND_RULE, "I want my money back for this order")
    assert float(hit.evidence[0]["score"]) > 0.5
    model = intent.embedder()
    bank = intent.IntentBank(
        model,
        [intent.Intent(0, "refund requests", tuple(REFUNDS["should"]), tuple(REFUNDS["should_not"]), 0.1)],
        {},
    )
    assert bank.scores("What time do you open on Sundays?").intent(0).score < -0.5


def test_a_higher_threshold_stops_a_looser_match():
    text = "I'd like a refund for the item I bought last week"
    assert fires(REFUND_RULE, text)
    strict = spec("intent", {**REFUNDS, "threshold": 0.95})
    assert fires(strict, text) == []


def test_an_intent_reads_the_role_it_applies_to():
    agent_rule = spec("intent", REFUNDS, applies_to="agent")
    text = "I would like a refund for something I bought"
    assert fires(agent_rule, text, role="user") == []
    assert len(fires(agent_rule, text, role="agent")) == 1


def test_the_message_is_embedded_once_per_evaluation_and_the_examples_only_at_compile(monkeypatch):
    calls = []
    real = intent.Embedder.vector

    def counting(self, text):
        calls.append(text)
        return real(self, text)

    monkeypatch.setattr(intent.Embedder, "vector", counting)
    rules = [spec("intent", REFUNDS, rule_id=n) for n in range(1, 21)]
    exceptions = {"phrases": ["refund"], "exception_examples": REFUNDS["should_not"]}
    rules.append(spec("phrases", exceptions, rule_id=99))
    matcher = compile_rules(rules)
    assert len(calls) == 20 * (4 + 1 + 3) + 3 + 1  # examples, descriptions, exceptions, the phrase
    calls.clear()
    hits = matcher.evaluate([MessageView("user", "I would like a refund for my order")])
    assert calls == ["I would like a refund for my order"]
    assert len(hits) == 21


def test_agents_without_intent_rules_never_load_the_model(monkeypatch):
    monkeypatch.setattr(intent, "embedder", lambda: pytest.fail("the model was loaded"))
    assert len(fires(spec("phrases", {"phrases": ["refund"]}), "refund please")) == 1


# --- exception examples (boundaries as intents) -------------------------------------------

EXCEPTIONS = [
    "What is your refund policy?",
    "Can you explain the refund policy to me?",
    "Do you have a return policy?",
]
REFUND_PHRASE = spec("phrases", {"phrases": ["refund*"], "exception_examples": EXCEPTIONS})


def test_exception_examples_stop_a_phrase_rule_on_messages_like_them():
    assert fires(REFUND_PHRASE, "Could you explain your policy on refunds?") == []


def test_exception_examples_leave_the_messages_the_rule_is_about():
    assert len(fires(REFUND_PHRASE, "I want a refund for my broken phone")) == 1


def test_exception_examples_apply_to_amount_rules_too():
    amount = spec(
        "amount",
        {"phrases": ["refund"], "limit": 100, "exception_examples": EXCEPTIONS},
    )
    assert len(fires(amount, "I want a refund of $150 for my order")) == 1
    assert fires(amount, "What is your refund policy on items over $150?") == []


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["should", "should_not"])
def test_fewer_than_three_examples_are_refused_naming_the_field(field):
    params = {**REFUNDS, field: REFUNDS[field][:2]}
    with pytest.raises(ValidationError) as refused:
        validate_parameters("intent", params)
    message = refused.value.message_dict["parameters"][0]
    assert message.startswith(f'"{field}" needs at least 3 examples, not 2.')


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({**REFUNDS, "should": "refund please"}, '"should" must be a list of non-empty example messages.'),
        ({**REFUNDS, "should_not": ["ok", " ", "fine"]}, '"should_not" must be a list of non-empty'),
        ({**REFUNDS, "threshold": 1.5}, '"threshold" must be between 0 and 0.95, not 1.5.'),
        ({**REFUNDS, "threshold": -0.2}, '"threshold" must be between 0 and 0.95, not -0.2.'),
        ({**REFUNDS, "threshold": "high"}, '"threshold" must be a number.'),
        ({**REFUNDS, "description": 3}, '"description" must be text'),
        ({"should": REFUNDS["should"]}, '"should_not" needs at least 3 examples, not 0.'),
    ],
)
def test_bad_intent_parameters_are_refused_with_the_field_named(params, expected):
    with pytest.raises(ValidationError) as refused:
        validate_parameters("intent", params)
    assert refused.value.message_dict["parameters"][0].startswith(expected)


def test_good_intent_parameters_pass_with_or_without_a_threshold():
    validate_parameters("intent", REFUNDS)
    validate_parameters("intent", {**REFUNDS, "threshold": 0.5})
    validate_parameters("intent", {**REFUNDS, "threshold": 0})


@pytest.mark.parametrize("kind", ["phrases", "amount"])
def test_exception_examples_must_be_a_list_of_messages(kind):
    params = {"phrases": ["refund"], "exception_examples": "refund policy"}
    if kind == "amount":
        params |= {"limit": 100, "currency": "USD"}
    with pytest.raises(ValidationError) as refused:
        validate_parameters(kind, params)
    assert '"exception_examples" must be a list' in refused.value.message_dict["parameters"][0]
    validate_parameters(kind, {**params, "exception_examples": ["What is your refund policy?"]})


def test_intent_reason_templates_may_use_example_and_score():
    validate_reason_template("intent", "Like {example} ({score}, threshold {threshold})")
    with pytest.raises(ValidationError):
        validate_reason_template("intent", "Said {phrase}")


# --- the model ------------------------------------------------------------------------------


@pytest.fixture
def fresh_model():
    intent.reset()
    yield
    intent.reset()  # the next test loads the real one again


def test_the_model_loads_without_touching_the_network(fresh_model, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    model = intent.embedder()
    vector = model.vector("I want my money back")
    assert vector.shape == (256,)
    assert abs(float(np.linalg.norm(vector)) - 1) < 1e-5


def test_the_model_loads_once_for_threads_asking_at_the_same_time(fresh_model, monkeypatch):
    loads = []
    real = intent._load

    def counting():
        loads.append(1)
        return real()

    monkeypatch.setattr(intent, "_load", counting)
    start = threading.Barrier(8)
    seen = []

    def ask():
        start.wait()
        seen.append(intent.embedder())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1
    assert len({id(model) for model in seen}) == 1


def test_our_sentence_vector_is_the_models_own_before_centring():
    from pathlib import Path

    import wordllama
    from wordllama import WordLlama

    reference = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    text = "Please refund the shoes I bought"
    theirs = reference.embed([text], norm=True)[0]
    ours = intent.embedder()._plain(text)
    assert np.allclose(theirs, ours, atol=1e-5)


def test_a_missing_model_is_a_clear_error_when_rules_need_it(fresh_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "wordllama", None)  # as if the package were not installed
    with pytest.raises(intent.ModelUnavailable, match="wordllama package is not installed"):
        compile_rules([REFUND_RULE])
    with pytest.raises(intent.ModelUnavailable):
        compile_rules([REFUND_PHRASE])
    # Rules that do not need it still compile and fire.
    assert len(fires(spec("phrases", {"phrases": ["refund"]}), "refund please")) == 1


def test_missing_weights_are_a_clear_error_and_nothing_is_downloaded(fresh_model, monkeypatch, tmp_path):
    import wordllama

    # The wheel's folder without its files: the loader must fail, not fetch them.
    monkeypatch.setattr(wordllama, "__file__", str(tmp_path / "__init__.py"))
    monkeypatch.setattr(socket.socket, "connect", lambda *a: pytest.fail("download attempted"))
    with pytest.raises(intent.ModelUnavailable, match="cannot be loaded.*nothing is downloaded"):
        intent.embedder()


def test_the_system_check_reports_a_missing_model(fresh_model, monkeypatch):
    from agents.checks import intent_model_loads

    assert intent_model_loads() == []
    intent.reset()
    monkeypatch.setitem(sys.modules, "wordllama", None)
    (error,) = intent_model_loads()
    assert error.id == "agents.E001"
    assert "wordllama" in error.msg


def test_with_examples_adds_new_examples_once_and_keeps_the_rest():
    updated = intent.with_examples(
        REFUNDS,
        should=["Refund me for the broken kettle", "  i want my MONEY back for this order "],
        should_not=["Is my refund on its way?"],
    )
    assert updated["should"] == [*REFUNDS["should"], "Refund me for the broken kettle"]
    assert updated["should_not"] == [*REFUNDS["should_not"], "Is my refund on its way?"]
    assert updated["description"] == REFUNDS["description"]
    assert REFUNDS["should"][-1] == "I would like a refund for something I bought"  # not changed in place
    validate_parameters("intent", updated)


# --- typos ------------------------------------------------------------------------------------

RULE_WORDS = ["Can I talk to a person?", "I'd like to be reimbursed", "Close my account", "I want a refund"]


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("can I talkk to someone?", "can I talk to someone?"),
        ("I want to be reinbursed.", "I want to be reimbursed."),
        ("delete my acount", "delete my account"),
        ("need a refnd now", "need a refund now"),
    ],
)
def test_a_misspelt_word_is_read_as_the_rules_word_one_edit_away(written, read):
    typos = intent.Typos(intent.embedder().lexicon, RULE_WORDS)
    assert typos.read(written) == read


@pytest.mark.parametrize(
    "text",
    [
        "I found a pound on the floor",  # "pound" is a word, though one edit from "found"
        "Is there a rebate on this?",  # a word, though one edit from "create"
        "I want to reactivate my account",  # not "deactivate"
        "Close my acc",  # too short to guess
        "hello",
    ],
)
def test_dictionary_words_and_short_words_are_left_as_written(text):
    typos = intent.Typos(intent.embedder().lexicon, [*RULE_WORDS, "found", "create", "deactivate"])
    assert typos.read(text) == text


def test_an_intent_scores_a_typo_of_its_examples_words_as_the_word_itself():
    person = spec(
        "intent",
        {
            "description": "asks to talk to a person",
            "should": [
                "Can I talk to a real person please?",
                "I want to speak with a human",
                "Put me through",
            ],
            "should_not": [
                "The person who delivered it was rude",
                "Thanks, the bot answered",
                "Who is the manager?",
            ],
        },
    )
    (typo,) = fires(person, "can I talkk to a person?")
    (spelt,) = fires(person, "can I talk to a person?")
    assert typo.evidence[0]["score"] == spelt.evidence[0]["score"]
