"""The email task takes a transaction's emails at once and retries only those that failed (a unit test:
the mail sending is patched at its one place)."""

import smtplib
from unittest import mock

from escalations import notifications
from escalations.tasks import send_event_emails


def test_a_retry_carries_only_the_emails_that_failed():
    sent = []

    def send(*, event_id, usernames):
        sent.append(event_id)
        if event_id == 2:
            raise smtplib.SMTPServerDisconnected("mail server went away")
        return len(usernames)

    with mock.patch.object(notifications, "send_event_email", send):
        result = send_event_emails.apply(args=[[(1, ["ana"]), (2, ["bob"]), (3, ["olga", "ana"])]])

    # Each of the first try's emails once, then only the failed one on each of the 5 retries.
    assert sent == [1, 2, 3, 2, 2, 2, 2, 2]
    assert isinstance(result.result, smtplib.SMTPServerDisconnected)


def test_every_email_is_sent_once_when_all_go_through():
    with mock.patch.object(notifications, "send_event_email", return_value=1) as send:
        result = send_event_emails.apply(args=[[(1, ["ana"]), (2, ["bob"])]])

    assert result.result == 2
    assert [call.kwargs["event_id"] for call in send.call_args_list] == [1, 2]
