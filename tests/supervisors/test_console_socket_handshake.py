"""The console socket's refusals as a browser meets them, over real daphne (issue 14, item 15).

Refusing in connect() before accept() makes daphne answer the handshake with HTTP 403, which
a browser reports as a bare network error: console.js could not tell "signed out" from
"server away". A socket without a session is accepted, then closed with 4401; the Origin
check still refuses another site's page at the handshake (its CSRF protection).
"""

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from supervisors import consumers
from tests.live_server import running_daphne


@pytest.fixture
def daphne(transactional_db, tmp_path):
    with running_daphne(tmp_path) as base:
        yield base


def socket_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws/console/"


@pytest.mark.slow
def test_over_daphne_no_session_is_closed_with_4401_and_a_foreign_origin_is_a_403(daphne):
    with connect(socket_url(daphne), origin=daphne, open_timeout=10) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd.code == consumers.CLOSE_UNAUTHENTICATED

    with pytest.raises(InvalidStatus) as refused:
        connect(socket_url(daphne), origin="https://evil.example", open_timeout=10)
    assert refused.value.response.status_code == 403
