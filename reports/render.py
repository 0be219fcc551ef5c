"""Jinja2 rendering: templates from reports/templates, plotly.js inlined once, figures as one JSON blob."""

from __future__ import annotations

import base64
import functools
import gzip
import html
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import jinja2
from markupsafe import Markup

from reports import fmt
from reports.charts import Chart
from reports.metrics import describe, error_label

TEMPLATES = Path(__file__).parent / "templates"

#: Plotly config shared by every chart (no logo, no cloud links, offline).
PLOTLY_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "showLink": False,
    "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d", "toggleSpikelines"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}


#: How plotly.js is embedded: "compressed" (gzip + base64, unpacked by the browser's DecompressionStream;
#: ~2 MB instead of ~4.8 MB) or "raw" (a plain <script>, works in any browser).
PlotlyMode = Literal["compressed", "raw"]
PLOTLY_MODES: tuple[str, ...] = ("compressed", "raw")


@functools.cache
def plotly_js() -> str:
    """The installed plotly package's minified plotly.js, safe to place inside a <script> element."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().replace("</script", "<\\/script")


@functools.cache
def plotly_js_gzip_b64() -> str:
    """plotly.js gzip-compressed (deterministically) and base64-encoded."""
    return base64.b64encode(gzip.compress(plotly_js().encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


def plotly_embed(mode: PlotlyMode) -> dict[str, str]:
    """Template variables for embedding plotly.js once: `plotly_js` (raw) or `plotly_gz` (compressed)."""
    if mode == "raw":
        return {"plotly_js": plotly_js(), "plotly_gz": ""}
    if mode == "compressed":
        return {"plotly_js": "", "plotly_gz": plotly_js_gzip_b64()}
    raise ValueError(f"unknown plotly.js mode {mode!r}, expected one of {PLOTLY_MODES}")


def no_plotly() -> dict[str, str]:
    """Template variables for a page without charts."""
    return {"plotly_js": "", "plotly_gz": ""}


_CODE = re.compile(r"`([^`]+)`")


def md_code(text: str) -> Markup:
    """Escape `text` and turn `backticked` spans into <code> elements."""
    return Markup(_CODE.sub(r"<code>\1</code>", html.escape(text, quote=False)))


def json_for_script(data: Any) -> str:
    """JSON that can sit inside <script type="application/json"> (no `</script>`, no `<!--`)."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, default=_json_default)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def figures_json(charts: Iterable[Chart]) -> str:
    """All figures of a page keyed by chart id."""
    return json_for_script({c.id: c.figure for c in charts})


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment with the report's filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=fmt.num,
        value=fmt.value,
        pct=fmt.pct,
        duration=fmt.duration,
        timestamp=fmt.timestamp,
        error_label=error_label,
        tojson_script=json_for_script,
        md=md_code,
    )
    env.globals["plotly_config"] = PLOTLY_CONFIG
    env.globals["describe"] = describe
    return env


def render(template: str, **context: Any) -> str:
    """Render `template` (a file in reports/templates) with `context`."""
    return environment().get_template(template).render(**context)
