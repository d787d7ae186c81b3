"""PNG plots of training curves, confusion matrices, ROC and PR curves."""

import io
import logging

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from apache_beam.io.filesystems import FileSystems  # noqa: E402

from train import metrics  # noqa: E402

_LOGGER = logging.getLogger(__name__)

_DPI = 100
_CLASS_NAMES = ("benign (0)", "malignant (1)")


def write_all(
    plots_dir: str,
    history: list[dict],
    sets: dict[str, tuple[np.ndarray, np.ndarray]],
    threshold: float,
) -> list[str]:
    """Write every plot under ``plots_dir`` and return the paths written.

    ``sets`` maps "train" and "test" to (labels, probabilities).
    """
    figures = {
        "log_loss.png": _curve_figure(history, "log_loss", "Log loss"),
        "accuracy.png": _curve_figure(history, "accuracy", "Accuracy"),
        "roc.png": _roc_figure(sets, threshold),
        "precision_recall.png": _precision_recall_figure(sets, threshold),
    }
    for name, (labels, probabilities) in sets.items():
        figures[f"confusion_matrix_{name}.png"] = _confusion_figure(
            name, labels, probabilities, threshold
        )
    paths = []
    for filename, figure in figures.items():
        path = FileSystems.join(plots_dir, filename)
        _save(figure, path)
        paths.append(path)
    _LOGGER.info("Wrote %d plots to %s", len(paths), plots_dir)
    return paths


def _save(figure, path: str) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
    plt.close(figure)
    with FileSystems.create(path, mime_type="image/png") as handle:
        handle.write(buffer.getvalue())


def _curve_figure(history: list[dict], metric: str, label: str):
    figure, axes = plt.subplots(figsize=(7, 4.5))
    epochs = [record["epoch"] for record in history]
    for name in ("train", "test"):
        key = f"{name}_{metric}"
        if history and key in history[0]:
            values = [record[key] for record in history]
            axes.plot(epochs, values, label=f"{name} rows")
    axes.set_title(f"{label} per epoch (whole sets)")
    axes.set_xlabel("Epoch")
    axes.set_ylabel(label)
    axes.grid(alpha=0.3)
    axes.legend()
    return figure


def _confusion_figure(name, labels, probabilities, threshold):
    predicted = metrics.predict_classes(probabilities, threshold)
    counts = metrics.confusion_matrix(labels, predicted)
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros((2, 2)), where=totals > 0)

    # Constrained layout with a figure title keeps the two-line title clear of
    # the colour bar, which an axes title centred on the matrix runs into.
    figure, axes = plt.subplots(figsize=(5, 4.5), layout="constrained")
    image = axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    for row in range(2):
        for column in range(2):
            color = "white" if rates[row, column] > 0.5 else "black"
            count = counts[row, column]
            unit = "row" if count == 1 else "rows"
            axes.text(
                column,
                row,
                f"{rates[row, column]:.3f}\n({count} {unit})",
                ha="center",
                va="center",
                color=color,
            )
    axes.set_xticks([0, 1], labels=_CLASS_NAMES)
    axes.set_yticks([0, 1], labels=_CLASS_NAMES)
    axes.set_xlabel("Predicted class")
    axes.set_ylabel("True class")
    figure.suptitle(
        f"Confusion matrix, {name} rows\n"
        f"(normalized by true class, threshold {threshold:.3f})"
    )
    figure.colorbar(image, ax=axes, label="Share of true class")
    return figure


def _roc_figure(sets, threshold):
    figure, axes = plt.subplots(figsize=(6, 5.5))
    for name, (labels, probabilities) in sets.items():
        fpr, tpr, _ = metrics.roc_curve(labels, probabilities)
        auc = metrics.roc_auc(labels, probabilities)
        (line,) = axes.plot(fpr, tpr, label=f"{name} rows (AUC {auc:.4f})")
        report = metrics.classification_report(labels, probabilities, threshold)
        axes.plot(
            report["false_positive_rate"],
            report["recall"],
            "o",
            color=line.get_color(),
            label=f"{name} at threshold {threshold:.3f}",
        )
    axes.plot([0, 1], [0, 1], "--", color="gray", label="chance")
    axes.set_title("ROC curve")
    axes.set_xlabel("False positive rate")
    axes.set_ylabel("True positive rate (recall)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    return figure


def _precision_recall_figure(sets, threshold):
    figure, axes = plt.subplots(figsize=(6, 5.5))
    for name, (labels, probabilities) in sets.items():
        precision, recall, _ = metrics.precision_recall_curve(labels, probabilities)
        (line,) = axes.step(recall, precision, where="post", label=f"{name} rows")
        report = metrics.classification_report(labels, probabilities, threshold)
        axes.plot(
            report["recall"],
            report["precision"],
            "o",
            color=line.get_color(),
            label=f"{name} at threshold {threshold:.3f}",
        )
    axes.set_title("Precision-recall curve (positive class: malignant)")
    axes.set_xlabel("Recall")
    axes.set_ylabel("Precision")
    axes.set_ylim(0.0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    return figure
