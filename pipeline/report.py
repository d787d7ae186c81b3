"""Render ``report.html``: one self-contained page about a scoring run.

The page embeds its figures as base64 PNG, so it can be mailed or opened from
a bucket without its folder. The same PNGs are written to ``report/`` next to
it. Figures are drawn with Matplotlib's Agg canvas on ``Figure`` objects, not
through ``pyplot``, so no global state is shared between threads of a worker.
"""

import base64
import html
import io
import logging
import re

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems

from wdbc import schema, statistics

_LOGGER = logging.getLogger(__name__)

REPORT_NAME = "report.html"
FIGURES_DIR = "report"

_LEVEL_COLORS = {"stable": "#4c9a5b", "moderate": "#e0a030", "major": "#c8412f"}
_NO_LEVEL_COLOR = "#9e9e9e"
_TRAINING_COLOR = "#7f8c9a"
_SCORED_COLOR = "#2f6fb0"


def _figure(**kwargs):
    """Return a new Matplotlib ``Figure`` on an Agg canvas.

    Matplotlib is imported here rather than with this module, because the
    import takes about 0.3 s and only the step that writes the report draws.
    The launcher and every worker process import this module.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(**kwargs)
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def probability_figure(drift: dict, training: dict, threshold: float | None) -> bytes:
    """Draw the scored and training shares per probability bin, side by side."""
    edges = np.asarray(training["probability"]["histogram"]["edges"])
    training_shares = np.asarray(training["probability"]["histogram"]["shares"])
    counts = np.asarray(drift["probability"]["histogram_counts"], dtype=np.float64)
    total = counts.sum()
    scored_shares = counts / total if total else np.zeros_like(counts)
    width = np.diff(edges)
    left = edges[:-1]

    figure = _figure(figsize=(7.5, 3.6), layout="constrained")
    axes = figure.add_subplot()
    axes.bar(
        left + width * 0.05,
        training_shares,
        width * 0.45,
        align="edge",
        color=_TRAINING_COLOR,
        label=f"training ({training['rows']} rows)",
    )
    axes.bar(
        left + width * 0.5,
        scored_shares,
        width * 0.45,
        align="edge",
        color=_SCORED_COLOR,
        label=f"this run ({drift['rows']} rows)",
    )
    if threshold is not None:
        axes.axvline(threshold, color="black", linestyle="--", linewidth=1)
        axes.annotate(
            f"threshold {threshold:g}",
            (threshold, 1),
            xycoords=("data", "axes fraction"),
            xytext=(4, -12),
            textcoords="offset points",
            fontsize=8,
        )
    axes.set_xlim(0, 1)
    axes.set_xlabel("predicted P(malignant)")
    axes.set_ylabel("share of rows")
    # Most rows sit near 0 and 1 and the threshold line is near the middle,
    # so the legend goes between the first bars and the threshold label.
    axes.legend(loc="upper left", bbox_to_anchor=(0.08, 1.0), frameon=False, fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)


def psi_figure(drift: dict) -> bytes:
    """Draw one PSI bar per feature with the level thresholds marked."""
    names = list(schema.FEATURE_NAMES)
    records = [drift["features"][name] for name in names]
    values = np.array([r["psi"] if r["psi"] is not None else 0.0 for r in records])
    colors = [_LEVEL_COLORS.get(r["level"], _NO_LEVEL_COLOR) for r in records]
    max_psi = drift["gate"]["max_psi"]
    limit = max(values.max(initial=0.0), statistics.MODERATE_UP_TO, max_psi or 0.0)

    figure = _figure(figsize=(7.5, 8.0), layout="constrained")
    axes = figure.add_subplot()
    positions = np.arange(len(names))
    axes.barh(positions, values, color=colors)
    axes.set_yticks(positions, names, fontsize=8)
    axes.invert_yaxis()
    for position, value in zip(positions, values):
        axes.annotate(
            f"{value:.3f}",
            (value, position),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    right = limit * 1.18
    axes.axvspan(
        statistics.STABLE_BELOW,
        statistics.MODERATE_UP_TO,
        color=_LEVEL_COLORS["moderate"],
        alpha=0.15,
        label="moderate: 0.1 to 0.25",
    )
    axes.axvspan(
        statistics.MODERATE_UP_TO,
        right,
        color=_LEVEL_COLORS["major"],
        alpha=0.1,
        label="major: above 0.25",
    )
    if max_psi is not None:
        axes.axvline(
            max_psi,
            color="black",
            linestyle="--",
            linewidth=1.2,
            label=f"--max_psi {max_psi:g}",
        )
    axes.set_xlabel("population stability index against the training data")
    axes.set_xlim(0, right)
    axes.legend(loc="lower right", fontsize=8)
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def confusion_figure(confusion: dict) -> bytes:
    """Draw the 2x2 confusion matrix of the labeled rows with its counts."""
    matrix = np.array(
        [
            [confusion["true_negative"], confusion["false_positive"]],
            [confusion["false_negative"], confusion["true_positive"]],
        ]
    )
    figure = _figure(figsize=(3.8, 3.4), layout="constrained")
    axes = figure.add_subplot()
    axes.imshow(matrix, cmap="Blues", vmin=0, vmax=max(matrix.max(), 1))
    labels = ["benign", "malignant"]
    axes.set_xticks([0, 1], labels)
    axes.set_yticks([0, 1], labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("actual")
    for (row, column), count in np.ndenumerate(matrix):
        dark = count > matrix.max() / 2
        axes.text(
            column,
            row,
            str(count),
            ha="center",
            va="center",
            color="white" if dark else "black",
            fontsize=12,
        )
    return _png(figure)


def render_figures(summary: dict, training: dict) -> dict[str, bytes]:
    """Return the report's PNG figures by file name.

    The PSI chart is drawn only when rows were scored, because without rows
    there is no PSI. The confusion matrix is drawn only when ``summary`` has
    labeled rows.
    """
    drift = summary["drift"]
    figures = {
        "probability.png": probability_figure(
            drift, training, summary.get("threshold")
        ),
    }
    if drift["rows"]:
        figures["psi.png"] = psi_figure(drift)
    confusion = summary.get("evaluation", {}).get("confusion_matrix")
    if confusion:
        figures["confusion.png"] = confusion_figure(confusion)
    return figures


def _number(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    text = f"{value:.{digits}f}"
    # A small negative value would otherwise print as "-0.00".
    return text.lstrip("-") if float(text) == 0 else text


def _percent(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _image(figures: dict[str, bytes], name: str, alt: str) -> str:
    encoded = base64.b64encode(figures[name]).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}">'


def _counts_section(summary: dict, drift: dict) -> str:
    rows = [
        ("Rows read", summary.get("rows_read")),
        ("Rows scored", summary.get("rows_scored", drift["rows"])),
        ("Rows rejected", summary.get("rows_rejected")),
    ]
    items = "".join(
        f"<tr><th>{label}</th><td>{_number(value)}</td></tr>"
        for label, value in rows
        if value is not None
    )
    reasons = summary.get("rejected_by_reason") or {}
    reason_rows = "".join(
        f"<tr><td>{html.escape(reason)}</td><td>{_number(count)}</td></tr>"
        for reason, count in sorted(reasons.items(), key=lambda item: -item[1])
    )
    reason_table = ""
    if reason_rows:
        reason_table = (
            "<h3>Rejected rows by reason</h3><table class='data'>"
            "<tr><th>Reason</th><th>Rows</th></tr>" + reason_rows + "</table>"
        )
    return f"<table class='counts'>{items}</table>{reason_table}"


def _headline(drift: dict, rejections: dict | None) -> str:
    gate = drift["gate"]
    parts = []
    if rejections and not rejections["passed"]:
        parts.append(
            "<p class='alert major'>Rejection gate failed: "
            f"{html.escape(rejections['message'])} No _SUCCESS was written.</p>"
        )
    if drift["rows"] == 0:
        parts.append("<p class='note'>No rows were scored, so drift is undefined.</p>")
    judged = drift["enough_rows"]
    if drift["rows"] and not judged:
        parts.append(
            f"<p class='alert info'>Too few rows to judge drift: {drift['rows']:,} "
            f"rows were scored, fewer than --min_drift_rows {drift['min_rows']:,}. "
            "On unchanged data the PSI of a sample this small is about "
            f"{drift['expected_psi_bias']:.2f}, so the PSI values below are "
            "reported without a level.</p>"
        )
    major = drift["major_features"]
    if major:
        listed = ", ".join(
            f"<b>{html.escape(name)}</b> (PSI {drift['features'][name]['psi']:.3f})"
            for name in major
        )
        parts.append(f"<p class='alert major'>Major drift in {listed}.</p>")
    elif judged:
        parts.append(
            "<p class='alert stable'>No feature shows major drift "
            f"(every PSI is at most {statistics.MODERATE_UP_TO}).</p>"
        )
    if gate["max_psi"] is not None:
        if drift["rows"] and not judged:
            parts.append(
                f"<p class='note'>--max_psi {gate['max_psi']:g} was not applied "
                "to this run.</p>"
            )
        elif gate["passed"]:
            parts.append(
                f"<p class='alert stable'>Drift gate passed: no feature's PSI "
                f"is above --max_psi {gate['max_psi']:g}.</p>"
            )
        elif not gate["failed_features"]:
            parts.append(
                "<p class='alert major'>Drift gate failed: no row was scored, so "
                f"--max_psi {gate['max_psi']:g} cannot be checked. No _SUCCESS "
                "was written.</p>"
            )
        else:
            failed = ", ".join(html.escape(n) for n in gate["failed_features"])
            parts.append(
                f"<p class='alert major'>Drift gate failed: PSI above --max_psi "
                f"{gate['max_psi']:g} for {failed}. No _SUCCESS was written.</p>"
            )
    return "".join(parts)


def _feature_table(drift: dict) -> str:
    def sort_key(item):
        psi = item[1]["psi"]
        return -(psi if psi is not None else -1.0)

    rows = []
    for name, record in sorted(drift["features"].items(), key=sort_key):
        level = record["level"] or "–"
        rows.append(
            f"<tr class='{html.escape(level)}'><td>{html.escape(name)}</td>"
            f"<td>{_number(record['psi'])}</td><td>{html.escape(level)}</td>"
            f"<td>{_number(record['mean_shift_std'], 2)}</td>"
            f"<td>{_number(record['out_of_range'])}</td>"
            f"<td>{_percent(record['out_of_range_share'])}</td></tr>"
        )
    return (
        "<table class='data'><tr><th>Feature</th><th>PSI</th><th>Level</th>"
        "<th>Mean shift (training std)</th><th>Outside training range</th>"
        "<th>Share outside</th></tr>" + "".join(rows) + "</table>"
    )


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 980px;
       color: #222; line-height: 1.4; padding: 0 16px; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1em; }
.meta { color: #555; font-size: 0.9em; }
.alert { padding: 8px 12px; border-radius: 4px; }
.alert.major { background: #fbe3df; border-left: 4px solid #c8412f; }
.alert.stable { background: #e4f2e6; border-left: 4px solid #4c9a5b; }
.alert.info { background: #eeeeee; border-left: 4px solid #9e9e9e; }
.note { color: #555; }
table { border-collapse: collapse; font-size: 0.9em; }
table.counts th { text-align: left; padding: 2px 16px 2px 0; font-weight: 600; }
table.counts td { text-align: right; padding: 2px 0; }
table.data th, table.data td { border: 1px solid #ddd; padding: 3px 8px; }
table.data td:not(:first-child) { text-align: right; }
table.data th { background: #f4f4f4; }
tr.major td { background: #fbe3df; }
tr.moderate td { background: #fdf2dc; }
.figures { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
img { max-width: 100%; }
.big { font-size: 1.6em; font-weight: 600; }
"""


def render_html(summary: dict, training: dict, figures: dict[str, bytes]) -> str:
    """Return the report page for ``summary`` with ``figures`` embedded."""
    drift = summary["drift"]
    model_version = html.escape(str(summary.get("model_version", "unknown")))
    probability = drift["probability"]
    if drift["rows"]:
        predictions = (
            "<p><span class='big'>"
            f"{_percent(drift['predicted_malignant_share'])}</span> of scored rows "
            f"predicted malignant ({_number(drift['predicted_malignant'])} of "
            f"{_number(drift['rows'])}). Mean P(malignant) "
            f"{_number(probability['mean'])} against "
            f"{_number(probability['training_mean'])} on the training rows; PSI "
            f"of the probability {_number(probability['psi'])} "
            f"({html.escape(probability['level'] or '–')}).</p>"
        )
    else:
        predictions = (
            "<p class='note'>No rows were scored, so nothing was predicted.</p>"
        )
    sections = [
        "<h1>WDBC scoring report</h1>",
        f"<p class='meta'>Model version {model_version}; training statistics "
        f"from {training['rows']} training rows.</p>",
        _headline(drift, summary.get("rejections")),
        "<h2>Rows</h2>",
        _counts_section(summary, drift),
        "<h2>Predictions</h2>",
        predictions,
        _image(figures, "probability.png", "predicted probability distribution"),
    ]
    if "confusion.png" in figures:
        evaluation = summary["evaluation"]
        sections += [
            "<h2>Labeled rows</h2>",
            f"<p>{_number(evaluation['labelled_rows'])} scored rows carry a "
            f"diagnosis; accuracy {_percent(evaluation['accuracy'])}.</p>",
            _image(figures, "confusion.png", "confusion matrix"),
        ]
    sections += [
        "<h2>Drift against the training data</h2>",
        "<p class='note'>PSI over the ten training decile bins; stable below "
        f"{statistics.STABLE_BELOW}, moderate up to {statistics.MODERATE_UP_TO}, "
        f"major above. Empty bins count as a share of {statistics.PSI_EPSILON:g}."
        "</p>",
    ]
    if "psi.png" in figures:
        sections += [
            "<div class='figures'>",
            _image(figures, "psi.png", "PSI per feature"),
            "</div>",
        ]
    else:
        sections.append(
            "<p class='note'>No rows were scored, so there is no PSI chart.</p>"
        )
    sections.append(_feature_table(drift))
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>WDBC scoring report {model_version}</title>"
        f"<style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def write_report(output_dir: str, summary: dict, training: dict) -> str:
    """Write ``report.html`` and ``report/*.png`` and return the page's path."""
    figures = render_figures(summary, training)
    for name, content in figures.items():
        path = FileSystems.join(output_dir, FIGURES_DIR, name)
        with FileSystems.create(path, mime_type="image/png") as f:
            f.write(content)
    page = render_html(summary, training, figures)
    path = FileSystems.join(output_dir, REPORT_NAME)
    with FileSystems.create(path, mime_type="text/html") as f:
        f.write(page.encode("utf-8"))
    _LOGGER.info("Wrote the scoring report %s with %d figures", path, len(figures))
    return path


# Reason patterns of pipeline/readers.py and pipeline/transforms.py, and the
# category each is counted under in summary.json. The category leaves out
# values and column names, so the number of keys stays small.
_FILE_CATEGORIES = (
    ("file cannot be read after row ", "file truncated or corrupt"),
    ("missing feature columns: ", "missing feature columns"),
    ("duplicated columns: ", "duplicated columns"),
    ("the model returned a NaN probability", "NaN probability"),
    ("normalized value is not finite in ", "normalized value not finite"),
)
_VALUE_CATEGORIES = (
    (re.compile(r"^expected \d+ fields, found \d+$"), "wrong number of fields"),
    (re.compile(r"^missing value in "), "missing value"),
    (re.compile(r"^NaN in "), "NaN value"),
    (re.compile(r"^infinite value in "), "infinite value"),
    (re.compile(r"^non-numeric value "), "non-numeric value"),
    (re.compile(r"^value .* is outside the float32 range$"), "outside float32 range"),
    (
        re.compile(r"^column .* has type .*, not a number$"),
        "feature column not numeric",
    ),
)


def reason_category(reason: str) -> str:
    """Return the category of a rejection reason, without values or columns.

    A row with several value problems gets their categories joined by "; ",
    in the order of ``_VALUE_CATEGORIES``. An unknown reason maps to "other".
    """
    for prefix, category in _FILE_CATEGORIES:
        if reason.startswith(prefix):
            return category
    found = set()
    for problem in reason.split("; "):
        matched = [c for pattern, c in _VALUE_CATEGORIES if pattern.match(problem)]
        found.update(matched or ["other"])
    order = [c for _, c in _VALUE_CATEGORIES] + ["other"]
    return "; ".join(c for c in order if c in found)


class CountRejectedByReasonFn(beam.CombineFn):
    """Count rejected rows per reason text into a dict."""

    def create_accumulator(self) -> dict:
        return {}

    def add_input(self, accumulator: dict, reason: str) -> dict:
        accumulator[reason] = accumulator.get(reason, 0) + 1
        return accumulator

    def merge_accumulators(self, accumulators) -> dict:
        merged: dict = {}
        for accumulator in accumulators:
            for reason, count in accumulator.items():
                merged[reason] = merged.get(reason, 0) + count
        return merged

    def extract_output(self, accumulator: dict) -> dict:
        return dict(sorted(accumulator.items(), key=lambda item: (-item[1], item[0])))


class CountReasons(beam.PTransform):
    """Combine ``RejectedRow``s into one dict of row counts by reason category."""

    def expand(self, rejected_rows):
        return (
            rejected_rows
            | "Reasons" >> beam.Map(lambda row: reason_category(row.reason))
            | "CombineReasons" >> beam.CombineGlobally(CountRejectedByReasonFn())
        )
