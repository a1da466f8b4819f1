"""The LOGGING dictionary of every process (daphne/Django, Celery worker, Celery beat).

LOG_FORMAT=json (the default): one JSON object per line with time (UTC,
ISO 8601), level, logger, message, request_id and the record's extra fields
(task_id and task_name inside a Celery task) — what a log collector parses
without rules. LOG_FORMAT=text: one readable line, for `make run`.
Formatting is python-json-logger's; we only choose the fields.
"""

from __future__ import annotations

from typing import Any

FORMATS = ("json", "text")

# Celery's routine chatter: beat sends a sweep every few seconds and, at INFO, Celery logs
# three lines for each ("Sending due task", "received", "succeeded"). Failures are still
# logged (ERROR), and so is what our own tasks log about the work they did.
ROUTINE_LOGGERS = ("celery.beat", "celery.worker.strategy", "celery.app.trace")


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    formatters = {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["levelname", "name", "message", "request_id"],
            "rename_fields": {"levelname": "level", "name": "logger"},
            # record.created as an ISO 8601 UTC time under "time".
            "timestamp": "time",
            # Non-ASCII text as is (one line still: the encoder escapes newlines).
            "json_ensure_ascii": False,
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "escalation_project.request_id.RequestIdFilter"}},
        "formatters": {log_format: formatters[log_format]},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.channels.server": {"level": "WARNING"},
            **{name: {"level": "WARNING"} for name in ROUTINE_LOGGERS},
        },
    }
