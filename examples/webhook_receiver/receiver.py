"""A webhook receiver for Escalation Console: verifies, deduplicates, answers at once, works after.

    WEBHOOK_SECRET=whsec_… python -m examples.webhook_receiver.receiver --port 8001 --db inbox.sqlite3

Standard library only, plus the `escalation_console` client's
`verify_webhook` for the signature. For each POST:

1. verify the `webhook-signature` over the raw body with the endpoint's secret
   (`verify_webhook` also refuses a `webhook-timestamp` more than 5 minutes
   off, so a captured request cannot be replayed later): 400 if it fails;
2. store the event in the inbox, a SQLite table whose primary key is the
   `webhook-id`. The console sends an event at least once and keeps the
   `webhook-id` on every retry and redelivery, so a row that is already there
   means a duplicate: answer 200 and do nothing more;
3. answer 204 at once; a worker thread then handles the new event (the
   console waits 15 seconds at most and retries what is not answered with a
   2xx). An event stored but not handled yet (the process stopped) is handled
   on the next start.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from escalation_console import WebhookVerificationError, verify_webhook

logger = logging.getLogger("webhook_receiver")
MAX_BODY_BYTES = 1_000_000


class Inbox:
    """The events received, one row per webhook-id; `handled_at` is set once the work is done."""

    def __init__(self, path: str):
        # One connection shared by the request threads and the worker, used under a lock:
        # the writes are tiny, and SQLite allows one writer at a time anyway.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS inbox (webhook_id TEXT PRIMARY KEY, type TEXT NOT NULL,"
            " payload TEXT NOT NULL, received_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, handled_at TEXT)"
        )

    def add(self, webhook_id: str, event: dict) -> bool:
        """Store a new event; False if this webhook-id was stored before (a duplicate)."""
        with self._lock:
            inserted = self._db.execute(
                "INSERT OR IGNORE INTO inbox (webhook_id, type, payload) VALUES (?, ?, ?)",
                (webhook_id, event["type"], json.dumps(event)),
            )
        return inserted.rowcount == 1

    def mark_handled(self, webhook_id: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE inbox SET handled_at = CURRENT_TIMESTAMP WHERE webhook_id = ?", (webhook_id,)
            )

    def unhandled(self) -> list[tuple[str, dict]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT webhook_id, payload FROM inbox WHERE handled_at IS NULL ORDER BY rowid"
            ).fetchall()
        return [(webhook_id, json.loads(payload)) for webhook_id, payload in rows]


def log_event(event: dict) -> None:
    """The work to do with an event; replace it with yours (idempotent work is safest)."""
    escalation = event["data"].get("escalation") or {}
    logger.info("%s: escalation %s is %s", event["type"], escalation.get("id"), escalation.get("status"))


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        secret: str,
        inbox: Inbox,
        handle: Callable[[dict], None] = log_event,
    ):
        super().__init__(address, _RequestHandler)
        self.secret = secret
        self.inbox = inbox
        self.handle = handle
        self.counts = {"new": 0, "duplicate": 0, "refused": 0}
        self._counts_lock = threading.Lock()
        self._work: queue.Queue[tuple[str, dict]] = queue.Queue()
        for item in inbox.unhandled():  # stored before a stop, never handled
            self._work.put(item)
        threading.Thread(target=self._worker, name="webhook-worker", daemon=True).start()

    def receive(self, body: bytes, headers: dict[str, str]) -> int:
        """The status code to answer with."""
        try:
            event = verify_webhook(body, headers, self.secret)
        except WebhookVerificationError:
            self._count("refused")
            return 400
        webhook_id = headers["webhook-id"]
        if not self.inbox.add(webhook_id, event):
            self._count("duplicate")
            return 200
        self._count("new")
        self._work.put((webhook_id, event))
        return 204

    def _count(self, outcome: str) -> None:
        with self._counts_lock:
            self.counts[outcome] += 1

    def _worker(self) -> None:
        while True:
            webhook_id, event = self._work.get()
            try:
                self.handle(event)
            except Exception:  # stays unhandled in the inbox: handled again on the next start
                logger.exception("Handling %s failed", webhook_id)
                continue
            self.inbox.mark_handled(webhook_id)


class _RequestHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._answer(413)
            return
        # The raw bytes: a signature is over them, not over re-serialised JSON.
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        self._answer(self.server.receive(body, headers))

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        logger.debug(format, *args)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--db", default="webhook-inbox.sqlite3", help="The inbox: a SQLite file.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    receiver = Receiver((args.host, args.port), secret=os.environ["WEBHOOK_SECRET"], inbox=Inbox(args.db))
    logger.info("Receiving webhooks on http://%s:%s/", args.host, args.port)
    receiver.serve_forever()


if __name__ == "__main__":
    main()
