"""Test settings: the production settings with fast hashing and a real Redis.

On a machine without REDIS_URL a throw-away redis-server is started for the
test run, so the Channels and Celery tests always use a real Redis; CI sets
REDIS_URL and DATABASE_URL to run the same suite on its services.
"""

import os

from escalation_project.settings import *  # noqa: F403
from escalation_project.settings import CHANNEL_LAYERS, DATABASES, EMBEDDED_REDIS, VAR_DIR

if EMBEDDED_REDIS:
    from escalation_project.embedded_redis import start_for_tests

    REDIS_URL = start_for_tests(VAR_DIR / "test-redis")
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    CELERY_BROKER_URL = REDIS_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

if DATABASES["default"]["ENGINE"] == "escalation_project.sqlite_backend":
    # A file, not :memory:, so threads in the concurrency tests share one
    # database with real WAL locking, as in production; one per test process,
    # so two test runs in one checkout do not delete each other's database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
elif os.environ.get("TEST_DATABASE_NAME"):
    # PostgreSQL: two checkouts testing against one server at once would each drop the
    # other's test_<name> database; give one of them its own name.
    DATABASES["default"]["TEST"] = {"NAME": os.environ["TEST_DATABASE_NAME"]}

# Serve static files straight from the app and static/ folders: tests never run collectstatic.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# The cache per test process, not in the shared Redis.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# This run's own keys in the test Redis, which other runs may share: rate-limit counters
# (tests/api/conftest.py gives each test a fresh prefix), presence, and channel groups
# (another run's team 1 is not this run's). A server the run starts (tests/live_server.py)
# is handed the run's prefix, so it and the tests publish and listen on the same groups.
TEST_RUN_PREFIX = os.environ.get("TEST_RUN_PREFIX") or f"test-{os.getpid()}"
API_THROTTLE_KEY_PREFIX = f"{TEST_RUN_PREFIX}:rate"
PRESENCE_KEY_PREFIX = f"{TEST_RUN_PREFIX}:presence"
METRICS_KEY_PREFIX = f"{TEST_RUN_PREFIX}:metrics"
HEARTBEAT_KEY_PREFIX = f"{TEST_RUN_PREFIX}:heartbeat"
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = TEST_RUN_PREFIX
# Tests change team configuration in every way (queryset updates included) and read it at
# once; tests/escalations/test_team_config.py turns the per-process keeping back on.
TEAM_CONFIG_KEPT = False
# Presence announcements still coalesce, over a short window, so tests do not wait on it.
PRESENCE_ANNOUNCE_MS = 50
