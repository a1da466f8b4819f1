from django.urls import reverse

from escalations import services
from supervisors.models import Role
from tests import factories


def test_anonymous_visitors_see_what_it_is_and_how_to_log_in(client, db):
    page = client.get(reverse("home")).content.decode()

    assert "Where AI agents stop and ask a human" in page
    assert "Log in" in page
    assert "/static/css/base.css" in page


def test_a_member_sees_their_teams_with_open_and_claimed_counts(client, db):
    support, legal = factories.make_team("Support"), factories.make_team("Legal")
    ana = factories.make_user("ana")
    factories.add_member(ana, support, Role.SUPERVISOR)
    bot = factories.make_agent(support, "Support Bot")
    for _ in range(2):
        factories.open_escalation(factories.make_conversation(bot))
    claimed = factories.open_escalation(factories.make_conversation(bot))
    services.claim(escalation_id=claimed.pk, user=ana)
    factories.open_escalation(factories.make_conversation(factories.make_agent(legal, "Legal Bot")))
    client.force_login(ana)

    response = client.get(reverse("home"))

    assert response.context["teams"] == [
        {"name": "Support", "role": "Supervisor", "open_count": 2, "claimed_count": 1}
    ]
    assert "Legal" not in response.content.decode()


def test_the_stylesheet_is_served_locally(client, db):
    response = client.get("/static/css/base.css")

    assert response.status_code == 200
    assert b"--critical" in b"".join(response.streaming_content)
