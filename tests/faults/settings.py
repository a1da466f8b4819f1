"""Settings for the processes a fault test starts: the test settings, with production's cache.

The test settings keep the cache in process memory; in production it is Redis (failing open,
escalation_project/redis_client.py), and a Redis fault has to reach it to be tested.
"""

from escalation_project.settings import CACHES as PRODUCTION_CACHES
from escalation_project.settings_test import *  # noqa: F403

CACHES = PRODUCTION_CACHES
