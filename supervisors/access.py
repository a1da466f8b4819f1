"""What an open console socket may still see, and telling its sockets when that changes.

A console socket is authorised once, at its handshake, but lives for hours. Whatever
changes a user's access later (logout, deactivation, a password change, a membership
added, removed or changed, a team deleted) calls access_changed(); after the commit,
each of the user's sockets, in whichever daphne process holds it, re-reads its session
and teams (socket_access) and closes or re-scopes (supervisors.consumers). The channel
layer may drop a message, so the consumer checks again on every resume (the heartbeat
sends one every 20 s): a missed message leaves a socket open one heartbeat at most.

Each process joins `user.<id>` once per user it has sockets of, through the same
machinery as the team groups (escalations/fanout.py), so the event fan-out is unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.crypto import constant_time_compare

from escalations.broadcast import publish_soon
from escalations.fanout import TeamFanOut, loop_fan_out
from supervisors.selectors import console_team_ids

ACCESS_CHANGED = "access.changed"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def session_digest(session_key: str | None) -> str:
    """Names a session in a message without putting the key itself (a bearer secret) on Redis."""
    return hashlib.sha256((session_key or "").encode()).hexdigest()[:32]


def access_changed(*, user_ids: Iterable[int | None], ended_session_key: str | None = None) -> None:
    """After the commit, tell these users' open sockets to check their session and teams again.

    `ended_session_key`: a session that is over (a logout); its sockets close without
    waiting for the database, where the session row may not be deleted yet.
    """
    ids = sorted({user_id for user_id in user_ids if user_id is not None})
    if not ids:
        return
    ended = session_digest(ended_session_key) if ended_session_key else None

    def publish() -> None:
        for user_id in ids:
            publish_soon(user_group(user_id), {"type": ACCESS_CHANGED, "user_id": user_id, "ended": ended})

    transaction.on_commit(publish)


def on_logged_out(sender, request, user, **kwargs) -> None:
    """The user_logged_out receiver: sent before the session is flushed, hence the session key."""
    if user is not None and request is not None:
        access_changed(user_ids=[user.pk], ended_session_key=request.session.session_key)


@dataclass(frozen=True)
class SocketAccess:
    user: AbstractBaseUser | None  # None: the session no longer signs the socket's user in
    team_ids: list[int]


def socket_access(*, session_key: str | None, user_id: int) -> SocketAccess:
    """Whom the socket's session signs in now, and which teams they may watch (database, sync)."""
    user = _signed_in_user(session_key, user_id)
    return SocketAccess(user=user, team_ids=console_team_ids(user) if user is not None else [])


def _signed_in_user(session_key: str | None, user_id: int) -> AbstractBaseUser | None:
    """The session's user if it still signs in `user_id`, read afresh.

    As django.contrib.auth.get_user checks a request's session (logged out, expired,
    flushed, a password changed since, deactivated or deleted: None), but only reads:
    get_user flushes a session that fails, or cycles its key, and the browser's own
    requests must find its session as they left it.
    """
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    try:
        signed_in = get_user_model()._meta.pk.to_python(session[auth.SESSION_KEY])
        backend_path = session[auth.BACKEND_SESSION_KEY]
    except (KeyError, ValidationError):
        return None
    if signed_in != user_id or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = auth.load_backend(backend_path).get_user(user_id)
    given = session.get(auth.HASH_SESSION_KEY) or ""
    if user is None or not user.is_active or not given:
        return None
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return user if any(constant_time_compare(given, expected) for expected in hashes) else None


class UserFanOut(TeamFanOut):
    """The sockets of one event loop by user: where access.changed messages land."""

    group_of = staticmethod(user_group)
    key_field = "user_id"


def user_fan_out() -> UserFanOut:
    return loop_fan_out(UserFanOut)
