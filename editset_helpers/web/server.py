"""Serving the app: in the foreground for the script, in a thread for tests and screenshots.

Werkzeug's ``make_server`` (what ``flask run`` uses underneath) with threads, so a page and its
dozens of thumbnails load in parallel. Binding to port 0 picks a free port.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from helpers.errors import UserError


def bind(app: Flask, host: str = "127.0.0.1", port: int = 5000) -> BaseWSGIServer:
    """A threaded WSGI server listening on ``host:port`` (UserError when it cannot listen)."""
    hint = "pass --port N for another port (0 picks a free one) or --host ADDRESS"
    try:
        _probe(host, port)  # werkzeug reports a taken port on stderr and exits: ask first
        return make_server(host, port, app, threaded=True)
    except OSError as error:
        raise UserError(f"cannot listen on {host}:{port} ({error.strerror or error}); "
                        f"{hint}") from None
    except SystemExit:
        raise UserError(f"cannot listen on {host}:{port}; {hint}") from None


def _probe(host: str, port: int) -> None:
    """Bind and release ``host:port`` the way werkzeug will, so a failure is an OSError here."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug does
        probe.bind((host, port))


def url_of(server: BaseWSGIServer) -> str:
    host = server.host
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{server.server_port}/"


class BackgroundServer:
    """``with BackgroundServer(app) as url:`` serves ``app`` on a free port until the block ends."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0):
        self.server = bind(app, host, port)
        self.thread = threading.Thread(target=self.server.serve_forever, name="visualizer",
                                       daemon=True)

    @property
    def url(self) -> str:
        return url_of(self.server)

    def __enter__(self) -> str:
        self.thread.start()
        return self.url

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
