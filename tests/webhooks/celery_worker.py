"""`python -m tests.webhooks.celery_worker <send lease seconds> <celery worker options…>`

A real Celery worker (with the options given, e.g. -B for the beat sweep)
whose send lease is shorter than production's 60 s, so a test that kills a
worker mid-delivery sees the delivery sent again within seconds. Prefork
children and the embedded beat are forked from this process and keep the
change.
"""

import datetime as dt
import sys

import django


def main() -> None:
    lease_seconds, options = float(sys.argv[1]), sys.argv[2:]
    django.setup()
    from escalation_project.celery import app
    from webhooks import services

    services.SEND_LEASE = dt.timedelta(seconds=lease_seconds)
    app.worker_main(["worker", *options])


if __name__ == "__main__":
    main()
