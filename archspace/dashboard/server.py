"""The live dashboard: the standard library's threading HTTP server answering GET with the page,
its fixed static files and JSON payloads from :mod:`archspace.dashboard.data`.

Routes (anything else is a 404; only GET and HEAD):

- ``/``: the page; ``/static/{plots.js,app.js,app.css,plotly.min.js}``: a fixed table, not a folder;
- ``/api/experiments``: the experiments found at start (``key``, ``name``);
- ``/api/exp/<key>/summary``, ``/api/exp/<key>/trials?offset=&limit=`` (paged),
  ``/api/exp/<key>/epochs``, ``/api/exp/<key>/pareto``.

Experiments are named by their key (an index), so no request carries a path to open. It binds
127.0.0.1 unless given another host, and says where it listens.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from archspace.dashboard.assets import page, static
from archspace.dashboard.data import DashboardError, ExperimentData, open_experiments, to_json

#: Headers on every answer: the page runs only its own scripts and talks only to this server.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _int(query: dict[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    if not values:
        return default
    try:
        return int(values[0])
    except ValueError:
        raise DashboardError(f"{name} must be a whole number, got {values[0]!r}") from None


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


def allowed_hosts(host: str) -> frozenset[str] | None:
    """The ``Host`` header names a server bound to ``host`` answers: the loopback names and
    ``host`` itself; None (any) for a wildcard address, which the user chose with ``--host``.

    A page on another site can make the browser send requests to 127.0.0.1 under its own name
    (DNS rebinding): refusing names other than these keeps such a page from reading the store."""
    if host in WILDCARD_HOSTS:
        return None
    return LOOPBACK_NAMES | {host.strip("[]").lower()}


def _host_name(header: str) -> str:
    """The name in a ``Host`` header, without the port (``[::1]:8000`` -> ``::1``)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def make_handler(experiments: Sequence[ExperimentData], *, refresh_ms: int = 2000,
                 hosts: frozenset[str] | None = LOOPBACK_NAMES) -> type[BaseHTTPRequestHandler]:
    """A request handler class bound to ``experiments``, answering requests whose ``Host`` header
    names one of ``hosts`` (None: any)."""
    by_key = {str(e.key): e for e in experiments}
    listing = [{"key": e.key, "name": e.name} for e in experiments]
    payloads: dict[str, Callable[[ExperimentData, dict[str, list[str]]], Any]] = {
        "summary": lambda e, q: e.summary(),
        "trials": lambda e, q: e.trials(offset=_int(q, "offset", 0), limit=_int(q, "limit", 500)),
        "epochs": lambda e, q: e.epochs(),
        "pareto": lambda e, q: e.pareto(),
    }

    class Handler(BaseHTTPRequestHandler):
        server_version = "archspace"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            """Quiet: a dashboard polling every few seconds would flood the terminal."""

        def _send(self, status: int, body: str, content_type: str) -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _json(self, status: int, payload: Any) -> None:
            self._send(status, to_json(payload), "application/json")

        def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
            self.do_GET()

        def do_GET(self) -> None:  # noqa: N802
            host = self.headers.get("Host")
            if hosts is not None and host is not None and _host_name(host) not in hosts:
                self._json(HTTPStatus.FORBIDDEN, {"error": f"this dashboard answers only to {sorted(hosts)} "
                                                           "(start it with --host to serve other names)"})
                return
            url = urlsplit(self.path)
            parts = url.path.split("/")[1:]
            try:
                if url.path == "/":
                    self._send(200, page(refresh_ms=refresh_ms), "text/html; charset=utf-8")
                elif len(parts) == 2 and parts[0] == "static" and (found := static(parts[1])) is not None:
                    self._send(200, found[1], found[0])
                elif parts == ["api", "experiments"]:
                    self._json(200, {"experiments": listing})
                elif (len(parts) == 4 and parts[:2] == ["api", "exp"] and parts[2] in by_key
                      and parts[3] in payloads):
                    self._json(200, payloads[parts[3]](by_key[parts[2]], parse_qs(url.query)))
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            except DashboardError as exc:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser went away mid-answer

    return Handler


class DashboardServer(ThreadingHTTPServer):
    """The HTTP server (threads die with the process; a closed browser never blocks shutdown)."""

    daemon_threads = True


def create_server(root: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 8000,
                  refresh_ms: int = 2000) -> tuple[DashboardServer, list[ExperimentData]]:
    """A server for the experiments at ``root`` (not yet serving), and those experiments.

    Raises:
        DashboardError: no experiment at ``root``, or the address cannot be bound.
    """
    experiments = open_experiments(root)
    try:
        server = DashboardServer((host, port), make_handler(experiments, refresh_ms=refresh_ms,
                                                            hosts=allowed_hosts(host)))
    except OSError as exc:
        raise DashboardError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port "
                             "(0 picks a free one)") from None
    return server, experiments


def serve(root: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 8000, refresh_ms: int = 2000,
          out: TextIO | None = None) -> None:
    """Serve the dashboard until interrupted, saying where (and that loopback is the default)."""
    out = out or sys.stdout
    server, experiments = create_server(root, host=host, port=port, refresh_ms=refresh_ms)
    bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    reach = ("loopback only; pass --host 0.0.0.0 to expose it" if bound_host in ("127.0.0.1", "::1", "localhost")
             else "reachable from other machines: there is no authentication")
    names = ", ".join(e.name for e in experiments)
    print(f"archspace view: {len(experiments)} experiment(s) ({names}) at http://{shown}:{bound_port}/ ({reach}); "
          "Ctrl-C stops it", file=out, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


__all__ = ["SECURITY_HEADERS", "DashboardServer", "create_server", "make_handler", "serve"]
