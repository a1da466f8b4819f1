"""The console's rule pages: a team's rules, and per rule the suggestions learnt from the
supervisors' verdicts (agents.learning), each accepted or dismissed with one click.

Every member of a team sees its rules and their suggestions; only its contributors and
owners answer them (the service checks; the page hides the buttons from the others).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, F, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from agents import learning
from agents.models import EscalationRule, SuggestionTarget
from escalation_project.keyset import Keys, paginate
from escalations.models import Escalation
from supervisors.forms import SuggestionAnswerForm
from supervisors.models import Role
from supervisors.selectors import team_ids_with_role

# The rules page: by team, agent, then the rules' own order; keyset pages like the queue's.
RULE_KEYS: Keys = [("team_name", False), ("agent_name", False), ("order", False), ("id", False)]
PAGE_SIZE = 100


def _visible_rules(user):
    team_ids = team_ids_with_role(user, Role.SUPERVISOR)
    rules = EscalationRule.objects.select_related("agent__team")
    return rules if team_ids is None else rules.filter(agent__team_id__in=team_ids)


def _visible_rule(request: HttpRequest, rule_id: int) -> EscalationRule:
    # Another team's rule is "not found", not "forbidden": its id says nothing.
    rule = _visible_rules(request.user).filter(pk=rule_id).first()
    if rule is None:
        raise Http404("No such rule in your teams.")
    return rule


@require_GET
@login_required
def rules_page(request: HttpRequest) -> HttpResponse:
    """The rules of the viewer's teams, with how their escalations were marked."""
    rules_of_teams = _visible_rules(request.user).annotate(
        team_name=F("agent__team__name"), agent_name=F("agent__name")
    )
    page = paginate(rules_of_teams, keys=RULE_KEYS, cursor=request.GET.get("after"), size=PAGE_SIZE)
    rules = page.rows
    counts = {
        row["rule_id"]: row
        for row in Escalation.objects.filter(rule_id__in=[rule.pk for rule in rules])
        .values("rule_id")
        .annotate(
            # Not "needed": an annotation may not shadow the model's field of that name.
            total=Count("pk"),
            n_needed=Count("pk", filter=Q(needed=True)),
            n_not_needed=Count("pk", filter=Q(needed=False)),
        )
        .order_by()
    }
    for rule in rules:
        row = counts.get(rule.pk, {})
        rule.total = row.get("total", 0)
        rule.needed, rule.not_needed = row.get("n_needed", 0), row.get("n_not_needed", 0)
        marked = rule.needed + rule.not_needed
        rule.share_needed = rule.needed / marked if marked else None
    return render(
        request,
        "console/rules.html",
        {"rules": rules, "page": page, "is_first_page": not request.GET.get("after"), "base_query": ""},
    )


@require_GET
@login_required
def rule_page(request: HttpRequest, rule_id: int) -> HttpResponse:
    return _render_rule(request, _visible_rule(request, rule_id))


def _render_rule(request: HttpRequest, rule: EscalationRule, *, status: int = 200) -> HttpResponse:
    return render(
        request,
        "console/rule.html",
        {
            "rule": rule,
            "learning": learning.suggestions_for(rule),
            "answered": learning.answered_recently(rule),
            "may_answer": learning.may_answer(request.user, rule),
            "exception_target": SuggestionTarget.EXCEPTION_PHRASE.value,
            "max_labelled": learning.MAX_LABELLED,
        },
        status=status,
    )


@require_POST
@login_required
def accept(request: HttpRequest, rule_id: int) -> HttpResponse:
    return _answer(request, rule_id, accepted=True)


@require_POST
@login_required
def dismiss(request: HttpRequest, rule_id: int) -> HttpResponse:
    return _answer(request, rule_id, accepted=False)


def _answer(request: HttpRequest, rule_id: int, *, accepted: bool) -> HttpResponse:
    """Through agents.learning; a refusal is said on the rule's page with a 4xx, success redirects."""
    rule = _visible_rule(request, rule_id)
    form = SuggestionAnswerForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        messages.error(request, f"That answer is incomplete ({problems}).")
        return _render_rule(request, rule, status=400)
    answer = {
        "rule_id": rule.pk,
        "escalation_id": form.cleaned_data["escalation"],
        "target": form.cleaned_data["target"],
        "text": form.cleaned_data["text"],
        "user": request.user,
    }
    try:
        if accepted:
            learning.accept_suggestion(**answer)
        else:
            learning.dismiss_suggestion(**answer)
    except PermissionDenied as refusal:
        messages.error(request, str(refusal))
        return _render_rule(request, rule, status=403)
    except learning.SuggestionGone as gone:
        messages.error(request, gone.message)
        return _render_rule(request, rule, status=409)
    except ValidationError as invalid:
        messages.error(request, "The rule would not save with it: " + " ".join(invalid.messages))
        return _render_rule(request, rule, status=400)
    target = SuggestionTarget(answer["target"]).label.lower()
    if accepted:
        messages.success(
            request,
            f"Added the {target} “{answer['text'][:120]}” to {rule.name} "
            f"(from escalation #{answer['escalation_id']}); the audit records it.",
        )
    else:
        escalation = answer["escalation_id"]
        messages.success(request, f"Dismissed: escalation #{escalation} will not be offered again.")
    # Back where the click came from (the rule's admin page posts here too), if it is ours.
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = reverse("console:rule", args=[rule.pk])
    return redirect(back)
