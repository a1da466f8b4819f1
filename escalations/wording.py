"""How people and moments are written in audit rows, refusals and event payloads."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone


def name_of(user: AbstractBaseUser | None) -> str:
    return user.get_username() if user else "someone"


def when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "an unknown time"
    moment = moment.astimezone(dt.UTC)
    if moment.date() == timezone.now().astimezone(dt.UTC).date():
        return moment.strftime("%H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None
