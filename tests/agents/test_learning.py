"""Learning from supervisors' answers (agents.learning): a rule fires, a supervisor marks the
escalation, the rule's page offers the trigger message as an exception or an example, a
contributor accepts (through rule_update, audited) or dismisses (never offered again)."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from agents import learning
from agents.models import Conversation, EscalationRule, Label, RuleSuggestion, SuggestionTarget
from agents.services import evaluate_conversation, post_message
from escalations.services import mark_needed
from tests import factories


@pytest.fixture
def money_back(agent):
    return factories.make_rule(
        agent, name="Money back", parameters={"phrases": ["money back", "refund*"]}, reason_template="Refund"
    )


_conversations = iter(range(1, 10_000))


def fire_and_mark(agent, text: str, *, needed: bool, by, role: str = "user"):
    """A new conversation where `text` fires a rule; the escalation it opens, marked by `by`."""
    conversation = Conversation.objects.create(agent=agent, external_id=f"learn-{next(_conversations)}")
    posted = post_message(conversation=conversation, role=role, content=text)
    assert posted.escalation is not None, f"no rule fired on {text!r}"
    return mark_needed(escalation_id=posted.escalation.pk, user=by, needed=needed)


def fires(agent, text: str) -> bool:
    return evaluate_conversation(agent=agent, messages=[{"role": "user", "content": text}]).hits != []


def exception(rule, escalation, text: str = "back policy") -> dict:
    """An answer naming an exception-phrase suggestion, as the rule page posts it."""
    return {"rule_id": rule.pk, "escalation_id": escalation.pk, "target": "exception_phrase", "text": text}


def test_a_not_needed_phrase_hit_offers_the_phrase_around_it_as_an_exception(agent, money_back, ana):
    fire_and_mark(agent, "I want my money back now", needed=True, by=ana)
    policy = fire_and_mark(agent, "What is your money back policy?", needed=False, by=ana)

    result = learning.suggestions_for(money_back)

    assert result.labelled == 2
    [suggestion] = result.suggestions
    assert suggestion.escalation_id == policy.pk
    assert suggestion.target == SuggestionTarget.EXCEPTION_PHRASE
    # "your money" is only the rule's own words again; "back policy" blocks no needed message.
    assert suggestion.text == "back policy"
    assert suggestion.marked_by == "ana"
    before = result.before
    assert (before.precision, before.needed_fired, before.not_needed_fired) == (0.5, 1, 1)
    assert suggestion.before == result.before
    assert (suggestion.after.precision, suggestion.after.recall) == (1.0, 1.0)


def test_the_exception_chosen_keeps_firing_on_the_needed_messages(agent, money_back, ana):
    # "refund policy" would block a needed message; "policy question" blocks only not-needed ones.
    fire_and_mark(agent, "Refund policy says I get my money back, so refund me", needed=True, by=ana)
    fire_and_mark(agent, "A refund policy question for you", needed=False, by=ana)

    [suggestion] = learning.suggestions_for(money_back).suggestions

    assert suggestion.text == "policy question"
    assert suggestion.after.needed_fired == 1


def test_needed_hits_of_a_phrase_rule_propose_nothing(agent, money_back, ana):
    fire_and_mark(agent, "I want my money back", needed=True, by=ana)

    result = learning.suggestions_for(money_back)

    assert result.suggestions == [] and result.labelled == 1 and result.before.precision == 1.0


def test_unmarked_escalations_and_other_rules_escalations_are_not_labelled_history(agent, money_back, ana):
    other = factories.make_rule(agent, name="Chargebacks", parameters={"phrases": ["chargeback"]})
    conversation = Conversation.objects.create(agent=agent, external_id="unmarked")
    post_message(conversation=conversation, role="user", content="money back policy please")
    fire_and_mark(agent, "a chargeback policy question", needed=False, by=ana)

    assert learning.suggestions_for(money_back).labelled == 0
    assert learning.suggestions_for(other).labelled == 1


def test_accepting_writes_the_exception_through_rule_update_with_who_and_why(agent, money_back, ana, cora):
    fire_and_mark(agent, "I want my money back now", needed=True, by=ana)
    policy = fire_and_mark(agent, "What is your money back policy?", needed=False, by=ana)
    version = agent.rules_version

    rule = learning.accept_suggestion(**exception(money_back, policy), user=cora)

    assert rule.exception_phrases == ["back policy"]
    row = rule.history.first()
    assert row.history_user == cora
    assert row.history_change_reason == (
        f"Accepted suggestion from escalation #{policy.pk}: exception phrase “back policy”"
    )
    agent.refresh_from_db()
    assert agent.rules_version == version + 1  # every process's matcher sees the edit
    answer = RuleSuggestion.objects.get()
    assert (answer.decision, answer.decided_by, answer.escalation_id) == ("accepted", cora, policy.pk)
    # The loop closed: it no longer fires on that message, nor on a similar one; still on the needed one.
    assert not fires(agent, "What is your money back policy?")
    assert not fires(agent, "Tell me about the money back policy")
    assert fires(agent, "I want my money back now")
    assert learning.suggestions_for(rule).suggestions == []


def test_a_dismissed_suggestion_stays_dismissed_and_the_rule_is_unchanged(agent, money_back, ana, cora):
    policy = fire_and_mark(agent, "What is your money back policy?", needed=False, by=ana)

    learning.dismiss_suggestion(**exception(money_back, policy), user=cora)

    money_back.refresh_from_db()
    assert money_back.exception_phrases == []
    assert money_back.history.count() == 1  # only its creation
    assert learning.suggestions_for(money_back).suggestions == []
    assert RuleSuggestion.objects.get().decision == "dismissed"


def test_answering_twice_is_refused_naming_who_answered(agent, money_back, ana, cora, olga):
    policy = fire_and_mark(agent, "What is your money back policy?", needed=False, by=ana)
    answer = exception(money_back, policy)
    learning.accept_suggestion(**answer, user=cora)

    with pytest.raises(learning.SuggestionGone, match="already accepted by cora"):
        learning.accept_suggestion(**answer, user=olga)
    with pytest.raises(learning.SuggestionGone, match="already accepted by cora"):
        learning.dismiss_suggestion(**answer, user=olga)
    money_back.refresh_from_db()
    assert money_back.exception_phrases == ["back policy"]


def test_a_suggestion_that_changed_since_the_page_was_drawn_is_refused(agent, money_back, ana, cora):
    policy = fire_and_mark(agent, "What is your money back policy?", needed=False, by=ana)

    with pytest.raises(learning.SuggestionGone, match="changed since the page was shown"):
        # Not what is on offer ("back policy" is).
        learning.accept_suggestion(**exception(money_back, policy, "policy?"), user=cora)
    mark_needed(escalation_id=policy.pk, user=ana, needed=True)  # the verdict changed
    with pytest.raises(learning.SuggestionGone, match="offers no suggestion"):
        learning.accept_suggestion(**exception(money_back, policy), user=cora)
    money_back.refresh_from_db()
    assert money_back.exception_phrases == [] and not RuleSuggestion.objects.exists()


@pytest.mark.parametrize("who", ["ana", "otto"])
def test_a_supervisor_or_an_outsider_cannot_answer(agent, money_back, ana, outsider, who):
    policy = fire_and_mark(agent, "What is your money back policy?", needed=False, by=ana)
    user = ana if who == "ana" else outsider
    answer = exception(money_back, policy)

    with pytest.raises(PermissionDenied, match="Only contributors and owners of the team Billing"):
        learning.accept_suggestion(**answer, user=user)
    with pytest.raises(PermissionDenied):
        learning.dismiss_suggestion(**answer, user=user)
    money_back.refresh_from_db()
    assert money_back.exception_phrases == [] and not RuleSuggestion.objects.exists()


def test_the_same_message_marked_needed_and_not_needed_teaches_nothing(agent, money_back, ana):
    fire_and_mark(agent, "money back policy?", needed=True, by=ana)
    fire_and_mark(agent, "Money back  policy?", needed=False, by=ana)

    assert learning.suggestions_for(money_back).suggestions == []


def test_the_same_message_marked_twice_alike_is_one_suggestion(agent, money_back, ana):
    fire_and_mark(agent, "What is your money back policy?", needed=False, by=ana)
    fire_and_mark(agent, "What is your money back policy?", needed=False, by=ana)

    result = learning.suggestions_for(money_back)

    assert len(result.suggestions) == 1 and result.pending == 1 and result.labelled == 2


def test_an_exception_the_rule_cannot_take_is_refused_with_the_fields_message(agent, money_back, ana, cora):
    policy = fire_and_mark(agent, "What is your money back policy?", needed=False, by=ana)
    # The rule's topic predates the team's topic list, so the rule no longer validates as it is.
    EscalationRule.objects.filter(pk=money_back.pk).update(topic="Money")
    Label.objects.create(team=agent.team, kind="topic", name="Refunds")

    with pytest.raises(ValidationError, match="Unknown topic 'Money'"):
        learning.accept_suggestion(**exception(money_back, policy), user=cora)
    assert not RuleSuggestion.objects.exists()  # nothing half-written


def test_kinds_that_read_the_history_learn_nothing(agent, ana):
    rule = factories.make_rule(
        agent, name="Angry", kind="sentiment", parameters={"threshold": 0.3}, reason_template="Angry"
    )
    fire_and_mark(agent, "This is terrible, awful, I hate it", needed=False, by=ana)

    result = learning.suggestions_for(rule)

    assert result.learns is False and result.suggestions == [] and result.labelled == 1


def test_dismissing_a_message_marked_twice_alike_dismisses_it_for_both(agent, money_back, ana, cora):
    fire_and_mark(agent, "What is your money back policy?", needed=False, by=ana)
    fire_and_mark(agent, "What is your money back policy?", needed=False, by=ana)
    [suggestion] = learning.suggestions_for(money_back).suggestions

    learning.dismiss_suggestion(**suggestion.answer, user=cora)

    assert learning.suggestions_for(money_back).suggestions == []


def test_an_exception_is_never_only_the_rules_own_words_and_stopwords(agent, money_back, ana):
    # "the money" would block both messages (and most requests the rule is for): not offered.
    fire_and_mark(agent, "Is the money back guarantee valid abroad?", needed=False, by=ana)
    fire_and_mark(agent, "Explain the money back terms", needed=False, by=ana)

    texts = sorted(s.text for s in learning.suggestions_for(money_back).suggestions)

    assert texts == ["back guarantee", "back terms"]


def test_the_most_recently_marked_are_shown_first_and_the_rest_counted(agent, money_back, ana, monkeypatch):
    monkeypatch.setattr(learning, "MAX_SUGGESTIONS", 2)
    for text in ["Money back offers for students?", "Explain the money back terms", "money back policy?"]:
        fire_and_mark(agent, text, needed=False, by=ana)

    result = learning.suggestions_for(money_back)

    assert [s.text for s in result.suggestions] == ["back policy", "back terms"]
    assert result.pending == 3
