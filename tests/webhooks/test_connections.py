"""The sender keeps one session per thread: a receiver's keep-alive connection serves many deliveries."""

import http.server
import threading

import pytest

from webhooks import sender


class KeepAliveReceiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: list[tuple] = []
    body = b""

    def setup(self) -> None:
        super().setup()
        self.connections.append(self.client_address)

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def keep_alive_receiver(loopback_allowed):
    KeepAliveReceiver.connections = []
    KeepAliveReceiver.body = b"ok"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), KeepAliveReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def send(url: str) -> sender.SendResult:
    return sender.send(url=url, secrets=["whsec_" + "A" * 43 + "="], webhook_id="msg_1", body=b"{}")


def test_deliveries_from_one_thread_reuse_one_connection(keep_alive_receiver):
    results = [send(keep_alive_receiver) for _ in range(5)]

    assert [r.status_code for r in results] == [200] * 5
    assert len(KeepAliveReceiver.connections) == 1


def test_a_body_longer_than_the_excerpt_is_not_drained_and_its_connection_is_not_reused(
    keep_alive_receiver,
):
    KeepAliveReceiver.body = b"x" * (sender.EXCERPT_CHARS * 10)

    first, second = send(keep_alive_receiver), send(keep_alive_receiver)

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.excerpt == "x" * sender.EXCERPT_CHARS
    assert len(KeepAliveReceiver.connections) == 2


def test_switching_the_loopback_setting_takes_effect_at_once(keep_alive_receiver, settings):
    assert send(keep_alive_receiver).status_code == 200

    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    refused = send(keep_alive_receiver)

    assert refused.status_code is None
    assert "not a public address" in refused.error
