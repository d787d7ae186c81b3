"""Quality targets with CV-chosen hyperparameters, threshold rule, plots."""

import json
import struct

import numpy as np
import pytest
from matplotlib import image

from train import cv, metrics, run, trainer
from wdbc import dataset, schema

PLOT_NAMES = (
    "log_loss.png",
    "accuracy.png",
    "confusion_matrix_train.png",
    "confusion_matrix_test.png",
    "roc.png",
    "precision_recall.png",
)


@pytest.fixture(scope="module")
def selected_run(tmp_path_factory):
    """A run whose learning rate, L2 and epochs are chosen by 5-fold CV."""
    output_dir = tmp_path_factory.mktemp("selected")
    config = run.RunConfig(
        data_path=dataset.DEFAULT_DATA_PATH,
        output_dir=str(output_dir),
        options=trainer.TrainOptions(log_every_epochs=0),
        select_by_cv=True,
    )
    outcome = run.run_training(config)
    return outcome, json.loads((output_dir / "metrics.json").read_text()), output_dir


@pytest.fixture(scope="module")
def rate_limited_run(tmp_path_factory):
    """A default run whose threshold keeps out-of-fold FNR <= 2%."""
    output_dir = tmp_path_factory.mktemp("rate_limited")
    config = run.RunConfig(
        data_path=dataset.DEFAULT_DATA_PATH,
        output_dir=str(output_dir),
        options=trainer.TrainOptions(log_every_epochs=0),
        max_false_negative_rate=0.02,
        write_plots=False,
    )
    outcome = run.run_training(config)
    return outcome, json.loads((output_dir / "metrics.json").read_text())


def test_selected_run_test_log_loss(selected_run):
    _, written, _ = selected_run
    assert written["test_log_loss"] <= 0.085


def test_selected_run_test_accuracy(selected_run):
    _, written, _ = selected_run
    assert written["test_accuracy"] >= 0.97


def test_selected_run_test_roc_auc(selected_run):
    _, written, _ = selected_run
    assert written["test_roc_auc"] >= 0.99


def test_selection_recorded(selected_run):
    _, written, _ = selected_run
    selection = written["model_selection"]
    chosen = selection["chosen"]
    candidates = selection["candidates"]
    assert len(candidates) == len(cv.LEARNING_RATE_GRID) * len(cv.L2_GRID)
    best = min(candidates, key=lambda c: c["best_epoch_log_loss_mean"])
    assert chosen["learning_rate"] == best["learning_rate"]
    assert chosen["l2"] == best["l2"]
    assert chosen["epochs"] == best["best_epoch"]
    assert 1 <= chosen["epochs"] <= 200
    for key in ("learning_rate", "l2", "epochs"):
        assert written["hyperparameters"][key] == chosen[key], key
    assert written["cross_validation"]["epochs"] == chosen["epochs"]


def test_selection_scores_are_cv_only(selected_run):
    # Every candidate's score must come from folds of the 427 training rows.
    _, written, _ = selected_run
    for candidate in written["model_selection"]["candidates"]:
        assert candidate["folds"] == 5
        assert 0.0 < candidate["best_epoch_log_loss_mean"] < 1.0


@pytest.mark.parametrize(
    ("limit", "expected"),
    [(0.0, 0.3), (0.25, 0.6), (0.49, 0.6), (0.5, 0.8), (0.75, 0.9), (0.99, 0.9)],
)
def test_threshold_rule_small_case(limit, expected):
    labels = np.array([1, 1, 1, 1, 0, 0])
    probabilities = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.7])
    threshold = cv.max_threshold_for_false_negative_rate(labels, probabilities, limit)
    assert threshold == expected


def test_threshold_rule_is_highest_allowed():
    rng = np.random.default_rng(4)
    labels = (rng.random(300) < 0.4).astype(int)
    probabilities = np.clip(rng.normal(0.3 + 0.4 * labels, 0.2), 0.001, 0.999)
    positives = labels == 1
    for limit in (0.0, 0.01, 0.05, 0.1, 0.3):
        threshold = cv.max_threshold_for_false_negative_rate(
            labels, probabilities, limit
        )
        missed = np.mean(probabilities[positives] < threshold)
        assert missed <= limit, limit
        higher = np.nextafter(threshold, 1.0)
        assert np.mean(probabilities[positives] < higher) > limit, limit


def test_threshold_rule_without_positives():
    labels = np.zeros(4, dtype=int)
    probabilities = np.array([0.1, 0.2, 0.3, 0.4])
    assert cv.max_threshold_for_false_negative_rate(labels, probabilities, 0.1) == 1.0


def test_rate_limited_threshold_meets_limit(rate_limited_run):
    outcome, written = rate_limited_run
    selection = written["threshold_selection"]
    assert selection["rule"] == "max_false_negative_rate"
    assert selection["out_of_fold_false_negative_rate"] <= 0.02
    y_train = outcome.cross_validation.labels
    out_of_fold = outcome.cross_validation.out_of_fold_probabilities
    expected = cv.max_threshold_for_false_negative_rate(y_train, out_of_fold, 0.02)
    assert written["threshold"] == expected


def test_rate_limited_threshold_is_exported(rate_limited_run):
    outcome, written = rate_limited_run
    metadata_path = f"{written['model_dir']}/{schema.METADATA_RELPATH}"
    with open(metadata_path) as handle:
        metadata = json.load(handle)
    assert metadata["threshold"] == pytest.approx(written["threshold"], rel=1e-6)
    served = outcome.serving_model.threshold.numpy()
    assert served == pytest.approx(written["threshold"], rel=1e-6)


def test_rate_limited_test_rate_reported(rate_limited_run):
    _, written = rate_limited_run
    selection = written["threshold_selection"]
    test_report = written["test"]
    assert selection["test_false_negative_rate"] == test_report["false_negative_rate"]
    assert written["hyperparameters"]["max_false_negative_rate"] == 0.02
    # A recall-first threshold sits below the default 0.5 on this data.
    assert written["threshold"] < 0.5


def _png_size(path) -> tuple[int, int]:
    with open(path, "rb") as handle:
        header = handle.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", header[16:24])


@pytest.mark.parametrize("name", PLOT_NAMES)
def test_plot_is_valid_png(selected_run, name):
    _, _, output_dir = selected_run
    path = output_dir / "plots" / name
    assert path.is_file()
    width, height = _png_size(path)
    assert 300 <= width <= 2000
    assert 250 <= height <= 2000
    pixels = image.imread(path)
    assert pixels.shape[:2] == (height, width)
    # A blank canvas has one color; a drawn plot has many.
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 20


def test_roc_auc_against_pair_count():
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4, 0.4])
    pairs = [(p, n) for p in scores[labels == 1] for n in scores[labels == 0]]
    # A positive ranked above a negative counts 1, and a tie counts 0.5.
    wins = [float(p > n) + 0.5 * float(p == n) for p, n in pairs]
    expected = np.mean(wins)
    assert metrics.roc_auc(labels, scores) == pytest.approx(expected)
