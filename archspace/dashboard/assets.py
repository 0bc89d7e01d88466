"""The page's assets: the HTML shell, the app's script and style, and Plotly's bundled JavaScript.

Plotly's minified bundle comes from the ``plotly`` Python package (``pip install
archspace[dashboard]``), never from a CDN, so the dashboard and the report work offline. The
app's own files sit next to this module; the server serves exactly these names (a fixed table),
so no request can name a file on disk.
"""

from __future__ import annotations

import functools
from importlib import resources

from archspace.dashboard.data import DashboardError

_TITLE = "archspace"


@functools.cache
def plotly_js() -> str:
    """Plotly's minified JavaScript bundle, from the installed ``plotly`` package."""
    try:
        from plotly.offline import get_plotlyjs  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise DashboardError("the dashboard draws its plots with Plotly: pip install 'archspace[dashboard]' "
                             "(or pip install plotly)") from None
    return str(get_plotlyjs())


@functools.cache
def app_file(name: str) -> str:
    """One of the app's own files (``app.js``, ``plots.js``, ``app.css``)."""
    return (resources.files("archspace.dashboard") / "static" / name).read_text(encoding="utf-8")


#: What ``/static/<name>`` may answer: name -> (content type, loader).
STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "plots.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "plotly.min.js": "text/javascript; charset=utf-8",
}


def static(name: str) -> tuple[str, str] | None:
    """The content type and text of ``/static/<name>``, or None for any other name."""
    kind = STATIC.get(name)
    if kind is None:
        return None
    return kind, plotly_js() if name == "plotly.min.js" else app_file(name)


def _inline_script(text: str) -> str:
    # "</script" would end the element early; "<\/" is the same string to JavaScript
    return "<script>" + text.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT") + "</script>"


def embed_json(text: str) -> str:
    """JSON text made safe inside a ``<script type="application/json">`` element (no ``</script>``
    break-out, no HTML comment or line-separator surprises)."""
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def page(*, data_json: str | None = None, refresh_ms: int = 2000) -> str:
    """The HTML page: live (scripts from ``static/``, data from the JSON endpoints) or, given
    ``data_json``, a self-contained report with every script and all data inlined."""
    if data_json is None:
        head = '<link rel="stylesheet" href="static/app.css">'
        # plots.js first: app.js uses it at once (and loads static/plotly.min.js itself)
        scripts = '<script src="static/plots.js"></script><script src="static/app.js"></script>'
        data = ""
    else:
        head = "<style>" + app_file("app.css") + "</style>"
        scripts = "".join(_inline_script(text) for text in (plotly_js(), app_file("plots.js"), app_file("app.js")))
        data = f'<script type="application/json" id="archspace-data">{embed_json(data_json)}</script>'
    mode = "live" if data_json is None else "report"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"icon\" href=\"data:,\"><title>{_TITLE}</title>{head}"
        f"</head><body data-mode=\"{mode}\" data-refresh=\"{int(refresh_ms)}\">"
        "<header><h1>archspace</h1><nav id=\"experiments\"></nav><span id=\"live-state\"></span></header>"
        "<main id=\"app\"><p id=\"loading\">Loading…</p></main>"
        f"{data}{scripts}</body></html>\n"
    )


__all__ = ["STATIC", "app_file", "embed_json", "page", "plotly_js", "static"]
