"""The admin's rule form: each kind's parameters as fields, messages next to the field, a preview
that saves nothing, topic and area from the team's labels, rule tests as user:/agent: lines."""

import html

import pytest
from django.urls import reverse

from agents.models import Agent, Conversation, EscalationRule, Label, LabelKind, Message
from supervisors.models import Role
from tests import factories

ADD = "admin:agents_escalationrule_add"


@pytest.fixture
def world(db):
    support = factories.make_team("Support")
    billing = factories.make_team("Billing")
    carla = factories.make_user("carla", is_staff=True)  # contributor of Support only
    factories.add_member(carla, support, Role.CONTRIBUTOR)
    bot = factories.make_agent(support, "Support Bot")
    for team, kind, name in [
        (support, LabelKind.TOPIC, "Refunds"),
        (support, LabelKind.TOPIC, "Orders"),
        (support, LabelKind.AREA, "Payments"),
        (billing, LabelKind.TOPIC, "Invoices"),
    ]:
        Label.objects.create(team=team, kind=kind, name=name)
    return {"support": support, "billing": billing, "carla": carla, "bot": bot}


def rule_post(bot: Agent, kind: str, **fields: str) -> dict:
    return {
        "agent": bot.pk,
        "name": "Big refunds",
        "enabled": "on",
        "order": "0",
        "kind": kind,
        "applies_to": "user",
        "exception_phrases": "",
        "severity": "warning",
        "urgency": "",
        "topic": "",
        "area": "",
        "reason_template": "Customer asked for a refund",
        # The boolean fields as the form renders them for a new rule: at their defaults.
        "phrases__typos": "on",
        "amount__typos": "on",
        "amount__requests_only": "on",
        "asks_for_human__typos": "on",
        **fields,
    }


def errors_of(response) -> dict:
    return response.context["adminform"].form.errors


def error_text(response, field: str) -> str:
    return " ".join(errors_of(response).get(field, []))


def test_the_add_page_has_each_kinds_fields_with_help_and_defaults(client, world):
    client.force_login(world["carla"])

    page = client.get(reverse(ADD)).content.decode()

    for kind in ["phrases", "regex", "amount", "asks_for_human", "sentiment", "loop", "intent", "policy"]:
        assert f"rule-kind-{kind}" in page
    assert 'name="amount__currency"' in page and 'name="amount__limit"' in page
    assert 'name="intent__should"' in page and 'name="intent__should_not"' in page
    assert 'name="sentiment__last_n"' in page
    assert "Empty: the default, 0.1 (0.05 to 0.95)" in page  # the intent threshold's default
    assert 'placeholder="default 0.1"' in page
    assert "Fires when a message with one of the phrases asks for an amount over the limit" in page
    assert "One per line" in page and "One message per line" in page
    assert 'src="/static/js/rule_form.js"' in page
    assert 'class="rule-kind-switch"' in page


def test_an_amount_rule_is_saved_from_its_fields_through_the_service(client, world):
    client.force_login(world["carla"])
    bot = world["bot"]

    response = client.post(
        reverse(ADD),
        rule_post(
            bot,
            "amount",
            amount__phrases="refund\n\nmoney back\n",
            amount__limit="100",
            amount__currency="USD",
            exception_phrases="refund policy",
            topic="Refunds",
            area="Payments",
            # Another kind's fields are not read.
            sentiment__last_n="7",
        ),
    )

    assert response.status_code == 302, errors_of(response)
    rule = EscalationRule.objects.get(name="Big refunds")
    assert rule.parameters == {"phrases": ["refund", "money back"], "limit": 100, "currency": "USD"}
    assert rule.exception_phrases == ["refund policy"]
    assert (rule.topic, rule.area) == ("Refunds", "Payments")
    assert Agent.objects.get(pk=bot.pk).rules_version == bot.rules_version + 1  # rule_save bumped it
    record = rule.history.get()
    assert (record.history_user, record.history_change_reason) == (world["carla"], "Admin: created")


def test_an_amount_rule_without_a_currency_asks_for_one_next_to_the_field(client, world):
    client.force_login(world["carla"])

    response = client.post(
        reverse(ADD), rule_post(world["bot"], "amount", amount__phrases="refund", amount__limit="100")
    )

    assert response.status_code == 200
    assert '"currency" is required' in error_text(response, "amount__currency")
    assert "parameters" not in errors_of(response)
    assert not EscalationRule.objects.filter(name="Big refunds").exists()


@pytest.mark.parametrize(
    ("kind", "fields", "field", "message"),
    [
        ("phrases", {}, "phrases__phrases", '"phrases" needs at least one phrase.'),
        ("regex", {"regex__pattern": "(unclosed"}, "regex__pattern", "not a valid regular expression"),
        ("sentiment", {"sentiment__threshold": "1.5"}, "sentiment__threshold", "between 0 and 1"),
        ("sentiment", {"sentiment__last_n": "0"}, "sentiment__last_n", "between 1 and 50"),
        (
            "intent",
            {"intent__should": "refund me\ngive my money back", "intent__should_not": "a\nb\nc"},
            "intent__should",
            "needs at least 3 examples, not 2",
        ),
        ("phrases", {"phrases__phrases": "refund", "phrases__word_gap": "9"}, "phrases__word_gap", "0 to 5"),
    ],
)
def test_each_message_stands_next_to_its_field(client, world, kind, fields, field, message):
    client.force_login(world["carla"])

    response = client.post(reverse(ADD), rule_post(world["bot"], kind, **fields))

    assert response.status_code == 200
    assert message in error_text(response, field)
    assert html.escape(message, quote=True) in response.content.decode()


def test_an_intent_rules_examples_are_two_lists(client, world):
    client.force_login(world["carla"])

    response = client.post(
        reverse(ADD),
        rule_post(
            world["bot"],
            "intent",
            intent__description="refund requests",
            intent__should="I want my money back\nplease refund my order\ncan I get a refund",
            intent__should_not="what is your refund policy?\nmy refund has not arrived\nthanks for it",
        ),
    )

    assert response.status_code == 302, errors_of(response)
    assert EscalationRule.objects.get(name="Big refunds").parameters == {
        "description": "refund requests",
        "should": ["I want my money back", "please refund my order", "can I get a refund"],
        "should_not": ["what is your refund policy?", "my refund has not arrived", "thanks for it"],
    }


def test_an_unchecked_default_on_option_is_kept_and_empty_numbers_take_the_default(client, world):
    client.force_login(world["carla"])
    fields = rule_post(world["bot"], "phrases", phrases__phrases="refund", phrases__word_gap="")
    del fields["phrases__typos"]  # unchecked: a checkbox sends nothing

    response = client.post(reverse(ADD), fields)

    assert response.status_code == 302, errors_of(response)
    assert EscalationRule.objects.get(name="Big refunds").parameters == {
        "phrases": ["refund"],
        "typos": False,
    }


def test_editing_shows_the_saved_parameters_in_the_fields_and_the_audit_says_parameters(client, world):
    bot = world["bot"]
    rule = factories.make_rule(
        bot, kind="sentiment", parameters={"threshold": 0.7, "last_n": 3}, exception_phrases=["calm down"]
    )
    client.force_login(world["carla"])
    url = reverse("admin:agents_escalationrule_change", args=[rule.pk])

    form = client.get(url).context["adminform"].form

    assert (form["sentiment__threshold"].value(), form["sentiment__last_n"].value()) == (0.7, 3)
    assert form["exception_phrases"].value() == "calm down"
    response = client.post(
        url,
        rule_post(
            bot,
            "sentiment",
            name=rule.name,
            reason_template=rule.reason_template,
            exception_phrases="calm down",
            sentiment__threshold="0.7",
            sentiment__last_n="5",
        ),
    )
    assert response.status_code == 302, errors_of(response)
    rule.refresh_from_db()
    assert rule.parameters == {"threshold": 0.7, "last_n": 5}
    assert rule.history.first().history_change_reason == "Admin: changed parameters"


def test_preview_shows_what_this_version_fires_on_and_saves_nothing(client, world):
    bot = world["bot"]
    rule = factories.make_rule(bot)  # phrases: ["refund"]
    for external_id, text in [
        ("a", "I was charged twice, fix it"),
        ("b", "hello there"),
        ("c", "double charged!"),
    ]:
        conversation = Conversation.objects.create(agent=bot, external_id=external_id)
        Message.objects.create(conversation=conversation, role="user", content=text)
    client.force_login(world["carla"])
    url = reverse("admin:agents_escalationrule_change", args=[rule.pk])
    version = Agent.objects.get(pk=bot.pk).rules_version

    response = client.post(
        url,
        rule_post(
            bot,
            "phrases",
            name=rule.name,
            phrases__phrases="charged twice\ndouble charged",
            preview_conversation="user: hi\nagent: how can I help?\nuser: they charged me twice",
            _preview="Preview",
        ),
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "This would fire on message 3" in page and "<code>charged me twice</code>" in page
    assert "it would have fired on <strong>2 of 3</strong>" in page
    assert "I was charged twice, fix it" in page
    rule.refresh_from_db()
    assert rule.parameters == {"phrases": ["refund"]}  # nothing saved
    assert Agent.objects.get(pk=bot.pk).rules_version == version
    assert rule.history.count() == 1


def test_preview_of_an_invalid_version_shows_the_message_and_no_preview(client, world):
    client.force_login(world["carla"])

    response = client.post(
        reverse(ADD),
        rule_post(world["bot"], "amount", amount__phrases="refund", amount__limit="100", _preview="1"),
    )

    assert response.status_code == 200
    assert '"currency" is required' in error_text(response, "amount__currency")
    assert 'id="preview-result"' not in response.content.decode()
    assert not EscalationRule.objects.exists()


def test_preview_says_when_it_would_not_fire(client, world):
    client.force_login(world["carla"])

    response = client.post(
        reverse(ADD),
        rule_post(
            world["bot"],
            "phrases",
            phrases__phrases="refund",
            preview_conversation="user: hello",
            _preview="1",
        ),
    )

    assert "<strong>This would not fire</strong>" in response.content.decode()
    assert "No stored conversations of the agent from the last 30 days" in response.content.decode()


def test_preview_of_another_teams_rule_is_404(client, world):
    other = factories.make_rule(factories.make_agent(world["billing"], "Billing Bot"))
    client.force_login(world["carla"])

    response = client.post(
        reverse("admin:agents_escalationrule_change", args=[other.pk]),
        rule_post(other.agent, "phrases", phrases__phrases="x", _preview="1"),
    )

    assert response.status_code == 404


def test_topic_and_area_are_dropdowns_of_the_teams_labels_with_a_link_to_add_one(client, world):
    rule = factories.make_rule(world["bot"])
    client.force_login(world["carla"])

    form = client.get(reverse("admin:agents_escalationrule_change", args=[rule.pk])).context["adminform"].form
    page = client.get(reverse("admin:agents_escalationrule_change", args=[rule.pk])).content.decode()

    assert [value for value, _ in form.fields["topic"].choices] == ["", "Orders", "Refunds"]
    assert [value for value, _ in form.fields["area"].choices] == ["", "Payments"]
    assert f"/admin/agents/label/add/?kind=topic&amp;team={world['support'].pk}" in page
    add_label = client.get(f"/admin/agents/label/add/?kind=topic&team={world['support'].pk}")
    assert add_label.context["adminform"].form.initial == {"kind": "topic", "team": str(world["support"].pk)}
    response = client.post(
        reverse("admin:agents_escalationrule_change", args=[rule.pk]),
        rule_post(world["bot"], "phrases", name=rule.name, phrases__phrases="refund", topic="Invoices"),
    )
    assert "Select a valid choice" in error_text(response, "topic")  # Billing's label


def test_the_agents_default_topic_is_a_dropdown_too(client, world):
    client.force_login(world["carla"])

    form = client.get(reverse("admin:agents_agent_change", args=[world["bot"].pk])).context["adminform"].form

    assert [value for value, _ in form.fields["default_topic"].choices] == ["", "Orders", "Refunds"]
    inline = client.get(reverse("admin:agents_agent_change", args=[world["bot"].pk])).context[
        "inline_admin_formsets"
    ][0]
    assert [value for value, _ in inline.formset.empty_form.fields["topic"].choices] == [
        "",
        "Orders",
        "Refunds",
    ]


def test_a_rule_test_shows_and_takes_its_conversation_as_lines(client, world):
    bot = world["bot"]
    case = bot.rule_tests.create(
        name="Refund", messages=[{"role": "user", "content": "hi"}, {"role": "agent", "content": "hello"}]
    )
    client.force_login(world["carla"])
    url = reverse("admin:agents_agent_change", args=[bot.pk])

    page = client.get(url).content.decode()

    assert "user: hi\nagent: hello</textarea>" in page
    form = client.get(url).context["inline_admin_formsets"][1].formset.forms[0]
    assert form["messages"].value() == "user: hi\nagent: hello"
    data = {
        "team": bot.team_id,
        "name": bot.name,
        "slug": bot.slug,
        "description": bot.description,
        "escalation_enabled": "on",
        "default_severity": bot.default_severity,
        "timeout_policy": bot.timeout_policy,
        "rules-TOTAL_FORMS": "0",
        "rules-INITIAL_FORMS": "0",
        "rule_tests-TOTAL_FORMS": "1",
        "rule_tests-INITIAL_FORMS": "1",
        "rule_tests-0-id": case.pk,
        "rule_tests-0-agent": bot.pk,
        "rule_tests-0-name": "Refund",
        "rule_tests-0-should_escalate": "on",
        "rule_tests-0-messages": "user: hi\nagent: hello\nuser: I want a refund\nof $150",
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.context["inline_admin_formsets"][1].formset.errors
    case.refresh_from_db()
    assert case.messages[-1] == {"role": "user", "content": "I want a refund\nof $150"}
    bad = client.post(url, {**data, "rule_tests-0-messages": "I want a refund"})
    assert "Line 1 needs a role first" in bad.content.decode()


def test_a_currency_saved_in_lower_case_shows_in_the_dropdown(client, world):
    rule = factories.make_rule(
        world["bot"], kind="amount", parameters={"phrases": ["refund"], "limit": 100, "currency": "usd"}
    )
    client.force_login(world["carla"])

    form = client.get(reverse("admin:agents_escalationrule_change", args=[rule.pk])).context["adminform"].form

    assert form["amount__currency"].value() == "USD"
    assert form["amount__phrases"].value() == "refund"
