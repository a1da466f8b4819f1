"""System check: the intent model loads, so a start-up fails loudly instead of a message post later.

Runs with `manage.py check`, `migrate`, `runserver` and the run command's start-up
checks. Loading takes ~0.3 s and reads only the installed wheel (no network).
"""

from __future__ import annotations

from typing import Any

from django.core import checks

from agents.engine import intent


@checks.register()
def intent_model_loads(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    try:
        intent.embedder()
    except intent.ModelUnavailable as exc:
        return [
            checks.Error(
                exc.message,
                hint="Intent rules and exception examples cannot run without it; posts to agents "
                "that have them are refused with 503 model_unavailable.",
                id="agents.E001",
            )
        ]
    return []
