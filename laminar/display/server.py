"""``laminar ui``: a read-only local web server over a datastore's executions.

It lists the executions of every flow in the datastore (newest first) and opens one as the report of
:mod:`laminar.display.report`. While an execution is incomplete its page polls a small JSON endpoint
every second and redraws the graph and the layers' counts in place, so a run whose driver is elsewhere
(another process, a cluster) is watched live; once it settles the page reloads as the full report.

Read-only: every route is a GET, and nothing is written anywhere. It listens on 127.0.0.1 unless given
another host, and says so loudly when it is not loopback (the pages have no authentication).

Starlette and uvicorn are an optional extra, imported only when the server starts:
``pip install 'laminar[ui]'``.

Routes: ``/`` (the list), ``/api/executions``, ``/flows/{flow}/{execution}`` (the report, live while
running), ``/flows/{flow}/{execution}/report.html`` (the self-contained file, to download) and
``/api/flows/{flow}/{execution}/live`` (counts and graph, JSON).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from laminar.display import report
from laminar.display.model import COLOURS, ExecutionSummary, ExecutionView
from laminar.errors import ConfigurationError, LaminarError

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

POLL_MS = 1000
HINT = "install them with: pip install 'laminar[ui]'"


class Source(Protocol):
    """Where the server's data comes from (:class:`laminar.results.views.Catalog`)."""

    @property
    def url(self) -> str: ...

    def executions(self) -> list[ExecutionSummary]: ...

    def view(self, flow: str, execution: str, *, splits: bool = True) -> ExecutionView: ...


def _modules() -> tuple[Any, Any]:
    try:
        import starlette
        import uvicorn
    except ImportError as error:
        raise ConfigurationError(f"laminar ui needs Starlette and uvicorn ({error}); {HINT}") from None
    return starlette, uvicorn


def _link(flow: str, execution: str, tail: str = "") -> str:
    return f"/flows/{quote(flow, safe='')}/{quote(execution, safe='')}{tail}"


def _when(stamp: float | None) -> str:
    import time

    return "" if stamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def index(source: Source, executions: list[ExecutionSummary]) -> str:
    """The list of executions, newest first; it refreshes itself while one is incomplete."""
    rows = []
    for item in executions:
        fill, _, ink = COLOURS.get(item.state if item.state != "incomplete" else "running", COLOURS["pending"])
        parameters = ", ".join(f"{k}={v}" for k, v in item.parameters.items())
        seconds = "" if item.seconds is None else f"{item.seconds:.3f}s"
        rows.append(
            f'<tr class="execution state-{escape(item.state)}" data-flow="{escape(item.flow)}" '
            f'data-execution="{escape(item.id)}"><td>{escape(item.flow)}</td>'
            f'<td><a href="{escape(_link(item.flow, item.id))}">{escape(item.id)}</a></td>'
            f'<td style="background:{fill};color:{ink}">{escape(item.state)}</td><td>{_when(item.created)}</td>'
            f'<td class="n">{seconds}</td><td>{escape(parameters)}</td></tr>'
        )
    table = (
        report.table(("flow", "execution", "state", "created", "duration", "parameters"), rows, "executions")
        if rows
        else f'<p class="note">No executions in {escape(source.url)} yet.</p>'
    )
    head = '<meta http-equiv="refresh" content="5">' if any(e.state == "incomplete" for e in executions) else ""
    content = f'<h1>laminar: executions</h1><p class="meta">datastore {escape(source.url)}</p>{table}'
    return report.page("laminar: executions", content, head=head)


def _script(flow: str, execution: str) -> str:
    """Polls the live endpoint and redraws in place; reloads once the execution settles."""
    colours = json.dumps({state: [fill, ink] for state, (fill, _, ink) in COLOURS.items()})
    url = json.dumps(_link(flow, execution).replace("/flows/", "/api/flows/", 1) + "/live")
    return f"""<script>
(function () {{
  var url = {url}, colours = {colours}, status = document.getElementById("live-status");
  function set(row, cls, text) {{ var cell = row.querySelector("." + cls); if (cell) cell.textContent = text; }}
  function tick() {{
    fetch(url, {{cache: "no-store"}}).then(function (r) {{ return r.json(); }}).then(function (data) {{
      document.querySelector('[data-live="graph"]').innerHTML = data.graph;
      data.layers.forEach(function (layer) {{
        var row = document.querySelector('tr.layer-row[data-layer="' + layer.name + '"]');
        if (!row) return;
        row.className = "layer-row state-" + layer.state;
        set(row, "state", layer.state); set(row, "count", layer.label); set(row, "finished", layer.finished);
        set(row, "failed", layer.failed || ""); set(row, "remaining", layer.remaining === null ? "" : layer.remaining);
        var c = colours[layer.state] || colours.pending, cell = row.querySelector(".state");
        cell.style.background = c[0]; cell.style.color = c[1];
      }});
      status.textContent = "live: updated " + new Date().toLocaleTimeString();
      status.dataset.updates = String(Number(status.dataset.updates || "0") + 1);
      if (!data.live) {{ location.reload(); return; }}
      setTimeout(tick, {POLL_MS});
    }}).catch(function () {{
      status.textContent = "live: the server did not answer; trying again";
      setTimeout(tick, {POLL_MS * 2});
    }});
  }}
  setTimeout(tick, {POLL_MS});
}})();
</script>"""


def execution_page(source: Source, flow: str, execution: str) -> str:
    view = source.view(flow, execution)
    live = view.live
    status = '<p class="note" id="live-status">live: waiting for the first update</p>' if live else ""
    top = (
        f'<p class="meta"><a href="/">all executions</a> · '
        f'<a href="{escape(_link(flow, execution, "/report.html"))}">download this report</a></p>{status}'
    )
    return report.document(view, source=source.url, top=top, script=_script(flow, execution) if live else "")


def app(source: Source) -> Starlette:
    """The Starlette application serving ``source``, read-only."""
    _modules()
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    def failing(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def guarded(request: Request) -> Response:
            try:
                return handler(request)
            except LaminarError as error:  # an unknown execution, a name that is not one
                code = 404 if type(error).__name__ == "ExecutionNotFound" else 400
                text = " ".join(str(error).split())
                if request.url.path.startswith("/api/"):
                    return JSONResponse({"error": text}, status_code=code)
                page = report.page("laminar: not found", f'<p><a href="/">all executions</a></p><p>{escape(text)}</p>')
                return HTMLResponse(page, status_code=code)

        return guarded

    def names(request: Request) -> tuple[str, str]:
        return str(request.path_params["flow"]), str(request.path_params["execution"])

    def listing(request: Request) -> Response:
        return HTMLResponse(index(source, source.executions()))

    def listing_json(request: Request) -> Response:
        return JSONResponse([item.to_json() for item in source.executions()])

    def execution(request: Request) -> Response:
        return HTMLResponse(execution_page(source, *names(request)))

    def download(request: Request) -> Response:
        flow, identifier = names(request)
        page = report.document(source.view(flow, identifier), source=source.url)
        disposition = f'attachment; filename="{flow}-{identifier}.html"'
        return HTMLResponse(page, headers={"Content-Disposition": disposition})

    def live(request: Request) -> Response:
        view = source.view(*names(request), splits=False)
        return JSONResponse(dict(report.counts(view)), headers={"Cache-Control": "no-store"})

    routes = [
        Route("/", failing(listing)),
        Route("/api/executions", failing(listing_json)),
        Route("/flows/{flow}/{execution}", failing(execution)),
        Route("/flows/{flow}/{execution}/report.html", failing(download)),
        Route("/api/flows/{flow}/{execution}/live", failing(live)),
    ]
    return Starlette(routes=routes)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(
    source: Source, *, host: str = "127.0.0.1", port: int = 8700, announce: Callable[[str], None] | None = None
) -> None:
    """Serve ``source`` until interrupted. ``port=0`` takes a free port; the address is announced (by
    default on stdout) once the server listens."""
    _, uvicorn = _modules()
    if not _loopback(host):
        print(
            f"laminar ui: warning: listening on {host}, beyond this machine's loopback: anyone who reaches it "
            "can read every execution in the datastore (there is no authentication)",
            file=sys.stderr,
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        reason = f"laminar ui cannot listen on {host}:{port} ({error}); choose another --port (0: any free one)"
        raise ConfigurationError(reason) from None
    listener.listen(128)  # connections made before uvicorn starts wait in the backlog
    bound = listener.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    message = f"laminar ui: serving {source.url} at http://{shown}:{bound}/ (read-only; Ctrl-C stops it)"
    (announce or (lambda text: print(text, flush=True)))(message)
    server = uvicorn.Server(uvicorn.Config(app(source), log_level="warning", access_log=False))
    server.run(sockets=[listener])
