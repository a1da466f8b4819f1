"""matcher_for: one compiled matcher per agent, rebuilt when Agent.rules_version moves."""

import threading

import pytest

from agents.engine.cache import matcher_for
from agents.engine.matcher import MessageView
from agents.models import Agent
from agents.services import bump_rules_version
from tests import factories


@pytest.fixture
def agent(db):
    return factories.make_agent(factories.make_team("Billing"), "Billing Bot")


def said(text):
    return [MessageView("user", text)]


def test_the_matcher_is_compiled_once_and_reused_while_the_rules_are_unchanged(
    agent, django_assert_num_queries
):
    factories.make_rule(agent)
    first = matcher_for(agent)
    with django_assert_num_queries(0):
        assert matcher_for(agent) is first


def test_a_rule_edit_is_seen_through_the_version_stamp_without_clearing_anything(agent):
    rule = factories.make_rule(agent, parameters={"phrases": ["refund"]})
    before = matcher_for(agent)
    assert before.evaluate(said("chargeback")) == []

    # Another process edits the rule: all this process can see is the database.
    rule.parameters = {"phrases": ["chargeback"]}
    rule.save()
    bump_rules_version(agent_id=agent.pk)

    fresh = Agent.objects.get(pk=agent.pk)
    assert fresh.rules_version == agent.rules_version + 1
    after = matcher_for(fresh)
    assert after is not before
    assert len(after.evaluate(said("chargeback"))) == 1
    assert after.evaluate(said("refund")) == []


def test_without_a_version_bump_the_cached_matcher_stays(agent):
    rule = factories.make_rule(agent, parameters={"phrases": ["refund"]})
    before = matcher_for(agent)
    rule.parameters = {"phrases": ["chargeback"]}
    rule.save()  # a write that forgot bump_rules_version: the stamp is what counts
    assert matcher_for(Agent.objects.get(pk=agent.pk)) is before


def test_only_enabled_rules_are_compiled_in_their_order(agent):
    factories.make_rule(agent, name="second", order=2, parameters={"phrases": ["refund"]})
    factories.make_rule(agent, name="first", order=1, parameters={"phrases": ["refund"]})
    factories.make_rule(agent, name="off", order=0, enabled=False, parameters={"phrases": ["refund"]})
    assert [hit.rule_name for hit in matcher_for(agent).evaluate(said("refund"))] == ["first", "second"]


def test_agents_do_not_share_matchers(agent):
    other = factories.make_agent(agent.team, "Other Bot")
    factories.make_rule(agent, parameters={"phrases": ["refund"]})
    assert matcher_for(other).evaluate(said("refund")) == []
    assert len(matcher_for(agent).evaluate(said("refund"))) == 1


@pytest.mark.django_db(transaction=True)
def test_threads_asking_at_once_share_one_compiled_matcher():
    agent = factories.make_agent(factories.make_team("Billing"), "Billing Bot")
    factories.make_rule(agent)
    seen, barrier = [], threading.Barrier(8)

    def ask():
        barrier.wait()
        seen.append(matcher_for(agent))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and len({id(matcher) for matcher in seen}) == 1


def test_the_least_recently_used_matcher_goes_first_when_the_cache_is_full(agent, monkeypatch):
    from agents.engine import cache

    monkeypatch.setattr(cache, "MAX_MATCHERS", 2)
    team = agent.team
    second = factories.make_agent(team, "Second Bot")
    third = factories.make_agent(team, "Third Bot")
    kept = matcher_for(agent)
    matcher_for(second)
    assert matcher_for(agent) is kept  # used again: now the most recent
    matcher_for(third)  # evicts `second`, the least recently used
    assert set(cache._cache) == {agent.pk, third.pk}
    assert matcher_for(agent) is kept
