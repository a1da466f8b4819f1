"""Contributors answering suggestions of one rule at the same moment: real threads, each with
its own connection, on the real database (SQLite in WAL mode locally, PostgreSQL in CI).

Each accept locks the rule and applies its change to the rule as the previous one left it,
so no change is lost; the same suggestion is accepted once, the others are told by whom.
"""

import threading

from django.db import connections

from agents import learning
from agents.models import Conversation, EscalationRule, RuleSuggestion
from agents.services import post_message
from escalations.services import mark_needed
from supervisors.models import Role
from tests import factories


def race(action, users) -> list[tuple[str, str]]:
    barrier = threading.Barrier(len(users))
    outcomes: list[tuple[str, str]] = []
    lock = threading.Lock()

    def run(user, index):
        try:
            barrier.wait()
            action(user, index)
            outcome = ("accepted", user.username)
        except learning.SuggestionGone as gone:
            outcome = ("refused", gone.message)
        except Exception as error:  # anything else is a defect: keep it to show in the assertion
            outcome = ("error", repr(error))
        finally:
            connections.close_all()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(user, k)) for k, user in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def setup_rule(transactional_db, texts):
    team = factories.make_team("Billing")
    ana = factories.make_user("ana")
    factories.add_member(ana, team, Role.SUPERVISOR)
    contributors = []
    for name in ("cora", "carl", "cleo", "olga"):
        user = factories.make_user(name)
        factories.add_member(user, team, Role.CONTRIBUTOR)
        contributors.append(user)
    agent = factories.make_agent(team, "Billing Bot")
    rule = factories.make_rule(agent, name="Money back", parameters={"phrases": ["money back"]})
    for k, text in enumerate(texts):
        conversation = Conversation.objects.create(agent=agent, external_id=f"race-{k}")
        posted = post_message(conversation=conversation, role="user", content=text)
        mark_needed(escalation_id=posted.escalation.pk, user=ana, needed=False)
    return rule, contributors


def test_different_suggestions_accepted_at_once_all_land(transactional_db):
    rule, contributors = setup_rule(
        transactional_db,
        [
            "What is your money back policy?",
            "Is the money back guarantee valid abroad?",
            "Money back offers for students?",
            "Explain the money back terms",
        ],
    )
    offered = learning.suggestions_for(rule, with_precision=False).suggestions
    assert len(offered) == 4

    def accept(user, index):
        learning.accept_suggestion(**offered[index].answer, user=user)

    outcomes = race(accept, contributors)

    assert sorted(kind for kind, _ in outcomes) == ["accepted"] * 4, outcomes
    rule = EscalationRule.objects.get(pk=rule.pk)
    assert sorted(rule.exception_phrases) == sorted(s.text for s in offered)
    assert RuleSuggestion.objects.filter(decision="accepted").count() == 4


def test_one_suggestion_accepted_at_once_by_four_lands_once(transactional_db):
    rule, contributors = setup_rule(transactional_db, ["What is your money back policy?"])
    [suggestion] = learning.suggestions_for(rule, with_precision=False).suggestions

    def accept(user, index):
        learning.accept_suggestion(**suggestion.answer, user=user)

    outcomes = race(accept, contributors)

    kinds = sorted(kind for kind, _ in outcomes)
    assert kinds == ["accepted", "refused", "refused", "refused"], outcomes
    winner = next(name for kind, name in outcomes if kind == "accepted")
    assert all(f"already accepted by {winner}" in text for kind, text in outcomes if kind == "refused")
    assert EscalationRule.objects.get(pk=rule.pk).exception_phrases == [suggestion.text]
