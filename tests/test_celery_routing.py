"""Webhook sends have a queue of their own, so a worker for the rest is never held up by receivers."""

from django.conf import settings

from escalation_project.celery import app


def queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_deliveries_go_to_the_webhooks_queue_and_everything_else_to_the_default_one():
    assert queue_of("webhooks.tasks.deliver") == settings.CELERY_WEBHOOKS_QUEUE
    for task in (
        "webhooks.tasks.sweep_due_deliveries",
        "escalations.tasks.sweep_timers",
        "escalations.tasks.send_event_emails",
        "escalation_project.heartbeat",
    ):
        assert queue_of(task) == settings.CELERY_TASK_DEFAULT_QUEUE, task


def test_a_worker_started_without_queue_options_consumes_both():
    assert [queue.name for queue in app.conf.task_queues] == [
        settings.CELERY_TASK_DEFAULT_QUEUE,
        settings.CELERY_WEBHOOKS_QUEUE,
    ]
