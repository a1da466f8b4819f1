"""{% disabled_endpoints_banner %}: tells team owners that a webhook endpoint of theirs was switched off."""

from django import template

from webhooks.selectors import endpoints_disabled_for_owner

register = template.Library()


@register.inclusion_tag("webhooks/_disabled_banner.html", takes_context=True)
def disabled_endpoints_banner(context) -> dict:
    user = context.get("user")
    return {"endpoints": endpoints_disabled_for_owner(user) if user is not None else []}
