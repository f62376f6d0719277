"""`producer report`: one self-contained HTML page of what the queue computed.

Plotly draws the figures; its JavaScript is inlined once, so the page opens offline, from
a file, a mail attachment or a CI artifact, and stays interactive (zoom into three years
of hourly temperature, hover to read a value). A small script at the top collects any
script error into ``#report-status`` and logs the count to the console once the page has
loaded (the browser test reads it).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg

from greenhouse_queue import progress
from greenhouse_queue.cli import UsageError
from greenhouse_queue.files import replacing
from greenhouse_queue.queries import query

PLOTLY_HINT = "producer report needs plotly: pip install 'greenhouse-queue[report]'"
FAILURES_SHOWN = 200
PAGE = "index.html"


@dataclass(frozen=True)
class Choice:
    """The features plotted over time."""

    signals: list[str]
    features: list[str]


def render(conn: psycopg.Connection, out_dir: Path, choice: Choice) -> Path:
    """Writes ``out_dir/index.html`` (whole or not at all) and returns its path."""
    try:
        import plotly.io as pio
        import plotly.offline
    except ImportError:
        raise UsageError(PLOTLY_HINT) from None
    steps: list[tuple[str, Callable[[], list[str]]]] = []
    with conn.transaction():
        data = _read(conn, choice)
    sites = sorted(
        set(data["coverage"]["site"])
        | set(data["temperature"]["site"])
        | set(data["chosen"]["site"])
    )

    def figure(fig: Any) -> str:
        return pio.to_html(
            fig, full_html=False, include_plotlyjs=False, config={"responsive": True}
        )

    for site in sites:
        steps.append((site, lambda site=site: _site_section(site, data, choice, figure)))
    steps.append(("queue", lambda: _queue_section(data, figure)))
    sections: list[str] = []
    with progress.bar("report", total=len(steps), unit="sections") as bar:
        for _, make in steps:
            sections += make()
            bar.update(1)
    page = _page(sections, plotly.offline.get_plotlyjs(), sites, choice)
    path = out_dir / PAGE
    with replacing(path) as partial:
        partial.write_text(page, encoding="utf-8")
    return path


def _read(conn: psycopg.Connection, choice: Choice) -> dict[str, pd.DataFrame]:
    def frame(name: str, columns: list[str], params: dict | None = None) -> pd.DataFrame:
        rows = conn.execute(query("report", name), params).fetchall()
        return pd.DataFrame(rows, columns=columns)

    failures = conn.execute(
        query("observe", "latest_failures"), {"limit": FAILURES_SHOWN}
    ).fetchall()
    return {
        "coverage": frame("daily_coverage", ["site", "signal", "day", "coverage"]),
        "temperature": frame("air_temperature", ["site", "time", "value"]),
        "eras": frame("eras", ["site", "era_start", "era_end", "mean_air_temp_c"]),
        "chosen": frame(
            "chosen_features",
            ["site", "window_start", "signal", "feature", "value"],
            {"signals": choice.signals, "features": choice.features},
        ),
        "jobs": frame("finished_jobs", ["finished_at", "seconds", "device", "worker", "values"]),
        "failures": pd.DataFrame(
            failures,
            columns=[
                "job",
                "window_start",
                "window_end",
                "attempts",
                "max_attempts",
                "stage",
                "error",
                "finished_at",
            ],
        ),
    }


def _site_section(
    site: str, data: dict[str, pd.DataFrame], choice: Choice, figure: Callable[[Any], str]
) -> list[str]:
    import plotly.graph_objects as go

    parts = [f'<h2 id="site-{html.escape(site)}">{html.escape(site)}</h2>']
    coverage = data["coverage"][data["coverage"]["site"] == site]
    if len(coverage):
        grid = coverage.pivot(index="signal", columns="day", values="coverage")
        heat = go.Figure(
            go.Heatmap(
                z=grid.to_numpy(),
                x=list(grid.columns),
                y=list(grid.index),
                zmin=0,
                zmax=1,
                colorscale="Viridis",
                colorbar={"title": {"text": "coverage"}},
                hovertemplate="%{y}<br>%{x|%Y-%m-%d}<br>coverage %{z:.2f}<extra></extra>",
            )
        )
        heat.update_layout(
            title="Coverage: observed over expected samples, per signal and day (blank: none)",
            height=max(320, 18 * len(grid.index) + 140),
            margin={"l": 200},
            yaxis={"tickmode": "array", "tickvals": list(grid.index)},  # every signal named
        )
        parts.append(figure(heat))
    temperature = data["temperature"][data["temperature"]["site"] == site]
    if len(temperature):
        parts.append(figure(_eras_figure(site, temperature, data["eras"])))
    chosen = data["chosen"][data["chosen"]["site"] == site]
    if len(chosen):
        lines = go.Figure()
        for (signal, feature), rows in chosen.groupby(["signal", "feature"], sort=True):
            lines.add_trace(
                go.Scatter(
                    x=rows["window_start"],
                    y=rows["value"],
                    mode="lines",
                    name=f"{signal}__{feature}",
                )
            )
        lines.update_layout(
            title="Chosen features per window (--signal, --feature)",
            height=380,
            xaxis_title="window start (UTC)",
        )
        parts.append(figure(lines))
    else:
        wanted = ", ".join(f"{s}__{f}" for s in choice.signals for f in choice.features)
        parts.append(f"<p>No values of {html.escape(wanted)} at this site.</p>")
    return parts


def _eras_figure(site: str, temperature: pd.DataFrame, eras: pd.DataFrame) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Scatter(
            x=temperature["time"],
            y=temperature["value"],
            mode="lines",
            name="air temperature (hourly)",
            line={"width": 1, "color": "#4c78a8"},
        )
    )
    site_eras = eras[eras["site"] == site]
    last_time = temperature["time"].max()
    for number, era in enumerate(site_eras.itertuples(index=False)):
        end = era.era_end if pd.notna(era.era_end) else last_time
        fig.add_vrect(
            x0=era.era_start,
            x1=end,
            fillcolor="#f58518" if number % 2 else "#54a24b",
            opacity=0.12,
            line_width=0,
        )
        if pd.notna(era.mean_air_temp_c):
            fig.add_trace(
                go.Scatter(
                    x=[era.era_start, end],
                    y=[era.mean_air_temp_c, era.mean_air_temp_c],
                    mode="lines",
                    line={"color": "#e45756", "width": 2},
                    name="era mean",
                    legendgroup="era mean",
                    showlegend=number == 0,
                    hovertemplate=f"era {number + 1}: mean %{{y:.1f}} °C<extra></extra>",
                )
            )
    fig.update_layout(
        title=f"Eras over air temperature ({len(site_eras)} eras, shaded in turn)",
        height=380,
        yaxis_title="°C",
    )
    return fig


def _queue_section(data: dict[str, pd.DataFrame], figure: Callable[[Any], str]) -> list[str]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    parts = ['<h2 id="queue">The queue</h2>']
    jobs = data["jobs"]
    if len(jobs):
        fig = make_subplots(
            rows=2,
            cols=1,
            shared_xaxes=True,
            subplot_titles=("Jobs done so far (the slope is the throughput)", "Job duration"),
        )
        fig.add_trace(
            go.Scatter(
                x=jobs["finished_at"],
                y=list(range(1, len(jobs) + 1)),
                mode="lines",
                line_shape="hv",
                name="jobs done",
            ),
            row=1,
            col=1,
        )
        for device, rows in jobs.groupby("device", dropna=False):
            fig.add_trace(
                go.Scatter(
                    x=rows["finished_at"],
                    y=rows["seconds"],
                    mode="markers",
                    name=f"duration on {device}",
                    customdata=rows[["worker", "values"]].to_numpy(),
                    hovertemplate="%{y:.2f}s on %{customdata[0]}, %{customdata[1]} values"
                    "<extra></extra>",
                ),
                row=2,
                col=1,
            )
        fig.update_yaxes(title_text="jobs", row=1, col=1)
        fig.update_yaxes(title_text="seconds, claim to done", row=2, col=1)
        fig.update_layout(height=560)
        parts.append(figure(fig))
    else:
        parts.append("<p>No job has finished yet.</p>")
    parts.append(_failures_table(data["failures"]))
    return parts


def _failures_table(failures: pd.DataFrame) -> str:
    if not len(failures):
        return '<h3>Failures</h3><p id="failures">No job failed for good.</p>'
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(_cell(value))}</td>"
            for value in (
                row.job,
                f"{row.window_start:%Y-%m-%d %H:%M} – {row.window_end:%Y-%m-%d %H:%M}",
                f"{row.attempts}/{row.max_attempts}",
                row.stage,
                row.error,
                row.finished_at,
            )
        )
        + "</tr>"
        for row in failures.itertuples(index=False)
    )
    head = "".join(
        f"<th>{name}</th>" for name in ("job", "window", "attempts", "stage", "error", "failed at")
    )
    return (
        f"<h3>Failures (latest {len(failures)})</h3>"
        f'<table id="failures"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
    )


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    return str(value)


ERROR_COLLECTOR = """
window.reportErrors = [];
window.addEventListener("error", function (event) {
  window.reportErrors.push(String(event.message || event.type));
});
window.addEventListener("unhandledrejection", function (event) {
  window.reportErrors.push("unhandled rejection: " + String(event.reason));
});
window.addEventListener("load", function () {
  var status = document.getElementById("report-status");
  status.dataset.errors = String(window.reportErrors.length);
  status.dataset.plots = String(document.querySelectorAll(".plotly-graph-div .main-svg").length);
  status.textContent = window.reportErrors.length
    ? "script errors: " + window.reportErrors.join("; ")
    : "";
  console.log("report-status errors=" + status.dataset.errors + " plots=" + status.dataset.plots);
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem 2rem; color: #222; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
#report-status:empty { display: none; }
#report-status { color: #b00; font-weight: bold; }
"""


def _page(sections: list[str], plotly_js: str, sites: list[str], choice: Choice) -> str:
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#site-{html.escape(site)}">{html.escape(site)}</a>' for site in sites)
    chosen = ", ".join(f"{s}__{f}" for s in choice.signals for f in choice.features)
    body = "\n".join(sections) if sections else "<p>Nothing computed yet.</p>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>greenhouse-queue report</title>
<script>{ERROR_COLLECTOR}</script>
<style>{STYLE}</style>
<script>{plotly_js}</script>
</head>
<body>
<h1>greenhouse-queue report</h1>
<p>Made {made} by <code>producer report</code>; features over time: {html.escape(chosen)}.</p>
<p id="report-status" data-errors="unknown"></p>
<nav>{nav}<a href="#queue">queue</a></nav>
{body}
</body>
</html>
"""
