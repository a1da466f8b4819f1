"""The rule's admin page: of the escalations it opened, how many were marked needed."""

from django.test import Client
from django.urls import reverse

from supervisors import insights
from supervisors.models import Role
from tests import factories


def test_precision_counts_needed_not_needed_and_unmarked(world):
    # Refunds: 10 in the last days (one needed, one not needed) and one 40 days ago, unmarked.
    precision = insights.rule_precision(world["refunds"].pk)
    assert (precision.total, precision.needed, precision.not_needed, precision.unmarked) == (11, 1, 1, 9)
    assert precision.share_needed == 0.5
    empty = insights.rule_precision(factories.make_rule(world["helper"], name="Unused").pk)
    assert (empty.total, empty.share_needed) == (0, None)


def test_the_rule_admin_page_shows_it_and_links_the_what_if_bench(world, team):
    admin = factories.make_user("carla", is_staff=True)
    factories.add_member(admin, team, Role.CONTRIBUTOR)
    client = Client()
    client.force_login(admin)
    rule = world["refunds"]
    page = client.get(reverse("admin:agents_escalationrule_change", args=[rule.pk])).content.decode()
    assert 'id="rule-precision"' in page
    assert "Of the 11 escalations this rule opened" in page
    assert "<strong>1</strong> marked needed, <strong>1</strong> not needed" in page
    assert "50% of the marked ones needed" in page
    assert reverse("admin:agents_escalationrule_what_if", args=[rule.pk]) in page
