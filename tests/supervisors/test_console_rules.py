"""The console's rule pages: a team's rules, and a rule's suggestions answered with one click
(POST with CSRF); only contributors and owners of the rule's team may answer."""

import pytest
from django.test import Client

from agents.models import Conversation, RuleSuggestion
from agents.services import post_message
from escalations.services import mark_needed
from supervisors.models import Role
from tests import factories


@pytest.fixture
def rule(agent):
    return factories.make_rule(
        agent, name="Money back", parameters={"phrases": ["money back"]}, reason_template="Money back"
    )


@pytest.fixture
def policy_question(agent, rule, ana):
    """A "money back" hit on a policy question, marked not needed by ana; and a needed one."""
    escalations = []
    for external_id, text, needed in [
        ("needed", "I want my money back", True),
        ("policy", "What is your money back policy?", False),
    ]:
        conversation = Conversation.objects.create(agent=agent, external_id=external_id)
        posted = post_message(conversation=conversation, role="user", content=text)
        escalations.append(mark_needed(escalation_id=posted.escalation.pk, user=ana, needed=needed))
    return escalations[1]


def client_for(user, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def answer(policy_question, **extra) -> dict:
    return {"escalation": policy_question.pk, "target": "exception_phrase", "text": "back policy", **extra}


def test_the_rules_page_lists_the_teams_rules_with_their_verdicts(rule, policy_question, ana, outsider):
    legal_rule = factories.make_rule(factories.make_agent(outsider.teams.get(), "Legal Bot"), name="Lawyers")

    page = client_for(ana).get("/console/rules/")

    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="/console/rules/{rule.pk}/"' in html
    assert "50%" in html  # one needed, one not
    assert legal_rule.name not in html


def test_the_rule_page_shows_each_suggestion_with_precision_before_and_after(rule, policy_question, cora):
    page = client_for(cora).get(f"/console/rules/{rule.pk}/")

    assert page.status_code == 200
    html = page.content.decode()
    assert f'id="suggestion-{policy_question.pk}"' in html
    assert "Add the exception phrase <code>back policy</code>" in html
    assert "<strong>50%</strong>" in html and "<strong>100%</strong>" in html  # now, and after
    assert html.count('type="submit" class="primary">Accept') == 1


def test_a_supervisor_sees_the_suggestions_without_buttons(rule, policy_question, ana):
    html = client_for(ana).get(f"/console/rules/{rule.pk}/").content.decode()

    assert "back policy" in html and ">Accept<" not in html
    assert "needs a contributor or owner of Billing" in html


def test_another_teams_rule_is_not_found(rule, policy_question, outsider):
    client = client_for(outsider)

    assert client.get(f"/console/rules/{rule.pk}/").status_code == 404
    accepted = client.post(f"/console/rules/{rule.pk}/suggestions/accept/", answer(policy_question))
    assert accepted.status_code == 404
    rule.refresh_from_db()
    assert rule.exception_phrases == []


def test_one_click_accepts_and_the_rule_page_says_so(rule, policy_question, cora):
    client = client_for(cora)

    url = f"/console/rules/{rule.pk}/suggestions/accept/"
    response = client.post(url, answer(policy_question), follow=True)

    assert response.redirect_chain == [(f"/console/rules/{rule.pk}/", 302)]
    html = response.content.decode()
    assert "Added the exception phrase “back policy” to Money back" in html
    assert "Accepted by cora" in html
    rule.refresh_from_db()
    assert rule.exception_phrases == ["back policy"]
    assert rule.history.first().history_change_reason.startswith(
        f"Accepted suggestion from escalation #{policy_question.pk}"
    )


def test_dismiss_leaves_the_rule_and_hides_the_suggestion(rule, policy_question, cora):
    response = client_for(cora).post(
        f"/console/rules/{rule.pk}/suggestions/dismiss/", answer(policy_question), follow=True
    )

    html = response.content.decode()
    assert f"Dismissed: escalation #{policy_question.pk} will not be offered again." in html
    assert f'id="suggestion-{policy_question.pk}"' not in html
    rule.refresh_from_db()
    assert rule.exception_phrases == []


def test_a_supervisor_cannot_accept(rule, policy_question, ana):
    response = client_for(ana).post(f"/console/rules/{rule.pk}/suggestions/accept/", answer(policy_question))

    assert response.status_code == 403
    refusal = "Only contributors and owners of the team Billing may answer suggestions."
    assert refusal in response.content.decode()
    rule.refresh_from_db()
    assert rule.exception_phrases == [] and not RuleSuggestion.objects.exists()


def test_a_second_accept_is_a_409_naming_who_accepted(rule, policy_question, cora, olga):
    client_for(cora).post(f"/console/rules/{rule.pk}/suggestions/accept/", answer(policy_question))

    response = client_for(olga).post(f"/console/rules/{rule.pk}/suggestions/accept/", answer(policy_question))

    assert response.status_code == 409
    assert "already accepted by cora" in response.content.decode()
    rule.refresh_from_db()
    assert rule.exception_phrases == ["back policy"]


def test_an_incomplete_answer_is_a_400(rule, policy_question, cora):
    response = client_for(cora).post(
        f"/console/rules/{rule.pk}/suggestions/accept/", answer(policy_question, target="nonsense")
    )

    assert response.status_code == 400
    assert "That answer is incomplete (target:" in response.content.decode()


def test_answers_need_the_csrf_token(rule, policy_question, cora):
    client = client_for(cora, csrf=True)

    response = client.post(f"/console/rules/{rule.pk}/suggestions/accept/", answer(policy_question))

    assert response.status_code == 403
    rule.refresh_from_db()
    assert rule.exception_phrases == []


def test_answers_are_posts(rule, policy_question, cora):
    assert client_for(cora).get(f"/console/rules/{rule.pk}/suggestions/accept/").status_code == 405


def test_the_rules_admin_page_offers_the_suggestions_with_one_click_and_comes_back(
    rule, policy_question, team
):
    admin = factories.make_user("carla", is_staff=True)
    factories.add_member(admin, team, Role.CONTRIBUTOR)
    client = client_for(admin)
    admin_page = f"/admin/agents/escalationrule/{rule.pk}/change/"

    page = client.get(admin_page).content.decode()

    assert 'id="rule-learning"' in page
    assert "<strong>1</strong> suggestion from its marked escalations waits" in page
    assert f'href="/console/rules/{rule.pk}/"' in page
    # The buttons sit after the change form (a form inside a form is not allowed).
    assert page.index('id="rule-suggestions"') > page.index("</form>")
    assert f'<input type="hidden" name="next" value="{admin_page}">' in page
    assert "<strong>50%</strong>" in page and "<strong>100%</strong>" in page

    response = client.post(
        f"/console/rules/{rule.pk}/suggestions/accept/", {**answer(policy_question), "next": admin_page}
    )

    assert (response.status_code, response.url) == (302, admin_page)
    assert "Added the exception phrase “back policy”" in client.get(admin_page).content.decode()
    rule.refresh_from_db()
    assert rule.exception_phrases == ["back policy"]


def test_a_next_elsewhere_is_not_followed(rule, policy_question, cora):
    response = client_for(cora).post(
        f"/console/rules/{rule.pk}/suggestions/dismiss/",
        {**answer(policy_question), "next": "https://evil.example/"},
    )

    assert (response.status_code, response.url) == (302, f"/console/rules/{rule.pk}/")


def test_the_accepted_change_is_in_the_audit_with_who_and_why(rule, policy_question, cora, olga):
    client_for(cora).post(f"/console/rules/{rule.pk}/suggestions/accept/", answer(policy_question))

    page = client_for(olga).get(f"/console/audit/?type=rule&object={rule.pk}")

    html = page.content.decode()
    assert page.status_code == 200
    reason = f"Accepted suggestion from escalation #{policy_question.pk}: exception phrase “back policy”"
    assert reason in html
    assert "cora" in html


def test_the_rules_page_is_paged(agent, ana, monkeypatch):
    monkeypatch.setattr("supervisors.views_rules.PAGE_SIZE", 2)
    for k in range(3):
        factories.make_rule(agent, name=f"Rule {k}", order=k)
    client = client_for(ana)

    first = client.get("/console/rules/")
    after = first.context["page"].next_cursor
    second = client.get("/console/rules/", {"after": after})

    assert [rule.name for rule in first.context["rules"]] == ["Rule 0", "Rule 1"]
    assert [rule.name for rule in second.context["rules"]] == ["Rule 2"]
    assert second.context["page"].next_cursor is None
