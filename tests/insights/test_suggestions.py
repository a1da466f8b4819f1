"""Rule suggestions: log-odds of words in needed vs never-escalated conversations, and exceptions."""

import math
from collections import Counter

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import EscalationRule, Message
from escalations import services
from escalations.models import Escalation, Origin
from supervisors import suggestions
from supervisors.models import Role
from tests import factories

URL = "/console/insights/suggestions/"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_terms_are_words_and_two_word_phrases_without_stopwords_alone():
    assert suggestions.terms("I want a refund NOW") == {
        "want", "refund", "now", "i want", "want a", "a refund", "refund now",
    }  # fmt: skip
    assert suggestions.terms("it is") == set()


def test_log_odds_with_an_informative_prior_matches_a_hand_computation():
    # n_ours 2, n_theirs 4, prior weight 4: alpha_a = 4 * 4/6; delta = log(3.5) - log(1.4) = log(2.5).
    delta, z = suggestions.log_odds(Counter(a=2), Counter(a=2, b=2), prior_weight=4)["a"]
    assert delta == pytest.approx(math.log(2.5))
    assert z == pytest.approx(math.log(2.5) / math.sqrt(2 / (2 + 8 / 3)))


def conversation_saying(agent, *texts, needed=None):
    conversation = factories.make_conversation(agent)  # its first message: "I want my money back"
    for text in texts:
        Message.objects.create(conversation=conversation, role="user", content=text)
    if needed is not None:
        escalation = factories.open_escalation(conversation)
        Escalation.objects.filter(pk=escalation.pk).update(needed=needed)
    return conversation


@pytest.fixture
def corpus(agent):
    for k in range(6):
        conversation_saying(agent, "My card was stolen", *(["this is urgent"] if k < 4 else []), needed=True)
    for _ in range(20):
        conversation_saying(agent, "hello, where is my parcel")
    conversation_saying(agent, "card stolen again", needed=False)  # escalated, not needed: in neither set
    return agent


def test_suggestions_rank_what_only_needed_conversations_say(corpus):
    result = suggestions.suggestions_for(corpus, days=30)
    assert (result.needed_read, result.others_read) == (6, 20)
    found = {s.phrase: s for s in result.suggestions}
    assert {"stolen", "card", "was stolen", "my card", "card was"} <= set(found)
    assert "urgent" not in found  # in 4 needed conversations: under MIN_COUNT (5)
    assert "money" not in found and "parcel" not in found  # in both sets / only in the others
    stolen = found["stolen"]
    assert (stolen.needed_conversations, stolen.other_conversations, stolen.estimated_hits) == (6, 0, 6)
    assert stolen.examples == ["My card was stolen"] * 3
    assert stolen.z >= suggestions.MIN_Z


def test_exceptions_are_proposed_for_rules_mostly_marked_not_needed(agent):
    rule = factories.make_rule(agent)  # phrases: ["refund"]
    texts = ["what is your refund policy"] * 5 + ["refund my order now"]
    for k, text in enumerate(texts):
        conversation = factories.make_conversation(agent)
        message = Message.objects.create(conversation=conversation, role="user", content=text)
        escalation = services.open_escalation(
            conversation=conversation, origin=Origin.RULE, reason="Refund", rule=rule,
            evidence=[{"source": "rule", "rule_id": rule.pk, "text": "refund", "message_id": message.pk}],
        ).escalation  # fmt: skip
        Escalation.objects.filter(pk=escalation.pk).update(needed=k == 5)
    [proposal] = suggestions.suggestions_for(agent, days=30).exceptions
    assert (proposal.rule, proposal.marked, proposal.not_needed) == (rule, 6, 5)
    assert set(proposal.phrases) == {("refund policy", 5), ("your refund", 5)}


def test_the_page_lists_them_and_a_contributor_drafts_a_disabled_rule(corpus, ana, team):
    page = client_for(ana).get(URL, {"agent": corpus.slug}).content.decode()
    assert "<code>stolen</code>" in page and "My card was stolen" in page
    assert "Draft a rule" not in page  # a supervisor reads only
    assert client_for(ana).post(URL, {"agent": corpus.slug, "phrase": "stolen"}).status_code == 403
    assert not EscalationRule.objects.filter(name__startswith="Draft").exists()

    cora = factories.make_user("cora", is_staff=True)
    factories.add_member(cora, team, Role.CONTRIBUTOR)
    assert "Draft a rule" in client_for(cora).get(URL).content.decode()
    response = client_for(cora).post(URL, {"agent": corpus.slug, "phrase": "card stolen"})
    rule = EscalationRule.objects.get(name="Draft: card stolen")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:agents_escalationrule_what_if", args=[rule.pk])
    assert (rule.enabled, rule.kind, rule.parameters) == (False, "phrases", {"phrases": ["card stolen"]})
    assert rule.history.get().history_user == cora


def test_bad_input_is_a_400(corpus, ana, outsider):
    client = client_for(ana)
    assert client.get(URL, {"days": "0"}).status_code == 400
    assert client.get(URL, {"agent": "legal-bot"}).status_code == 400
    assert client.post(URL, {"agent": corpus.slug, "phrase": ""}).status_code == 400
    # Another team's agent is not a choice, whoever asks.
    assert client_for(outsider).post(URL, {"agent": corpus.slug, "phrase": "x"}).status_code == 400


def test_stop_words_are_never_suggested(agent):
    for _ in range(8):
        conversation_saying(agent, "after the update my card was stolen", needed=True)
    for _ in range(20):
        conversation_saying(agent, "hello, where is my parcel")

    found = {s.phrase for s in suggestions.suggestions_for(agent, days=30).suggestions}

    assert "stolen" in found
    assert not found & {"after", "the", "after the", "was"}
    assert all(set(phrase.split()) - suggestions.STOPWORDS for phrase in found)


def test_equal_scores_go_to_the_phrase_with_more_evidence():
    needed, others = Counter(apple=6, zebra=9, mango=9), Counter(mango=1)
    scored = [("apple", 2.52), ("mango", 2.48), ("zebra", 2.46), ("kiwi", 3.0)]

    assert [term for term, _ in suggestions.ranked(scored, needed, others)] == [
        "kiwi",
        "zebra",
        "mango",
        "apple",
    ]


@pytest.mark.parametrize(
    ("needed", "others", "says"),
    [
        (20, 11, "Too few conversations to compare with: 11 never escalated"),
        (4, 25, "Too few needed conversations: 4 conversations escalated and marked needed"),
        (3, 2, "Too little to compare: 3 conversations escalated and marked needed and 2 never escalated"),
        (20, 20, "No phrase stands out: none occurs in at least 5 of the 20 conversations"),
    ],
)
def test_the_page_says_which_side_is_missing(agent, ana, needed, others, says):
    for _ in range(needed):
        conversation_saying(agent, needed=True)  # all say only "I want my money back", like the others
    for _ in range(others):
        conversation_saying(agent)

    page = client_for(ana).get(URL, {"agent": agent.slug}).content.decode()

    assert says in page
    assert ("mark more escalations needed" in page) is (needed < suggestions.MIN_CONVERSATIONS_PER_SIDE)


def test_without_a_chosen_agent_the_page_opens_on_the_one_with_needed_escalations(corpus, ana, team):
    # "Aardvark" sorts first but has nothing marked: a first visit would read nothing there.
    factories.make_agent(team, "Aardvark Reconciler")

    page = client_for(ana).get(URL)

    assert page.context["agent"] == corpus
    assert f'<option value="{corpus.slug}" selected>' in page.content.decode()
    assert "<code>stolen</code>" in page.content.decode()
    # Chosen explicitly, the empty agent is shown as asked.
    chosen = client_for(ana).get(URL, {"agent": "aardvark-reconciler"})
    assert chosen.context["agent"].slug == "aardvark-reconciler"
