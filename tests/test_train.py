"""Tests for the training package: split, loss, SGD step, export, CLI."""

import gzip
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from train import cli, cv, data, distributed, run, trainer
from train.model import LogisticRegression, per_example_loss
from wdbc import dataset, schema


@pytest.fixture(scope="module")
def frame():
    return dataset.load_labeled(dataset.DEFAULT_DATA_PATH)


@pytest.fixture(scope="module")
def split(frame):
    return data.split_train_test(frame)


@pytest.fixture(scope="module")
def strategy():
    return distributed.make_strategy(distributed.select_devices())


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """One default training run shared by the tests of its outputs."""
    output_dir = tmp_path_factory.mktemp("default_run")
    config = run.RunConfig(
        data_path=dataset.DEFAULT_DATA_PATH,
        output_dir=str(output_dir),
        options=trainer.TrainOptions(),
    )
    return run.run_training(config), output_dir


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _initial_parameters(seed: int) -> tuple[np.ndarray, float]:
    tf.random.set_seed(seed)
    model = LogisticRegression(schema.NUM_FEATURES, seed=seed)
    return model.w.numpy().astype(np.float64), float(model.b.numpy())


def test_split_sizes(split):
    train_rows, test_rows = split
    assert len(train_rows) == 427
    assert len(test_rows) == 142


def test_split_disjoint_and_complete(frame, split):
    train_rows, test_rows = split
    assert set(train_rows.index).isdisjoint(test_rows.index)
    assert sorted(train_rows.index.tolist() + test_rows.index.tolist()) == list(
        frame.index
    )


def test_split_is_deterministic(frame, split):
    again_train, again_test = data.split_train_test(frame)
    assert again_train.index.tolist() == split[0].index.tolist()
    assert again_test.index.tolist() == split[1].index.tolist()


def test_normalization_uses_given_rows(frame, split):
    train_features = data.features_of(split[0])
    normalization = data.Normalization.fit(train_features)
    expected_mean = split[0][list(schema.FEATURE_NAMES)].mean().to_numpy()
    expected_std = split[0][list(schema.FEATURE_NAMES)].std(ddof=0).to_numpy()
    np.testing.assert_allclose(normalization.mean, expected_mean, rtol=1e-6)
    np.testing.assert_allclose(normalization.std, expected_std, rtol=1e-6)
    all_mean = frame[list(schema.FEATURE_NAMES)].mean().to_numpy()
    assert not np.allclose(normalization.mean, all_mean, rtol=1e-4)


def test_normalized_train_rows_standardized(split):
    train_features = data.features_of(split[0])
    normalized = data.Normalization.fit(train_features).apply(train_features)
    np.testing.assert_allclose(normalized.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(normalized.std(axis=0), 1.0, atol=1e-5)


def test_constant_feature_gets_unit_std():
    features = np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32)
    normalization = data.Normalization.fit(features)
    assert normalization.std[1] == 1.0
    assert np.all(normalization.apply(features)[:, 1] == 0.0)


def test_std_below_float32_normal_gets_unit_std():
    # Float64 std 6.8e-47 would round to 0 in the float32 export.
    features = np.zeros((10, 2), dtype=np.float32)
    features[:, 0] = np.arange(10)
    features[0, 1] = np.float32(1e-45)
    normalization = data.Normalization.fit(features)
    assert normalization.std[1] == 1.0
    assert np.all(np.isfinite(normalization.apply(features)))


def test_labels_malignant_is_one(split):
    labels = data.labels_of(split[0])
    is_malignant = (split[0][schema.LABEL_COLUMN] == "M").to_numpy()
    assert np.all(labels[is_malignant] == 1.0)
    assert np.all(labels[~is_malignant] == 0.0)


def test_kfold_partitions_rows(split):
    labels = data.labels_of(split[0])
    folds = data.kfold_indices(labels, 5, seed=22)
    held_out = np.concatenate([held for _, held in folds])
    assert len(folds) == 5
    assert sorted(held_out.tolist()) == list(range(427))
    for fit, held in folds:
        assert len(fit) + len(held) == 427
        assert set(fit.tolist()).isdisjoint(held.tolist())


def test_kfold_is_stratified(split):
    labels = data.labels_of(split[0])
    overall = labels.mean()
    for _, held in data.kfold_indices(labels, 5, seed=22):
        assert abs(labels[held].mean() - overall) < 0.01


def test_loss_matches_hand_computation():
    labels = np.array([1.0, 0.0, 1.0, 0.0], dtype=np.float32)
    logits = np.array([2.0, -1.5, -0.5, 3.0], dtype=np.float32)
    p = _sigmoid(logits.astype(np.float64))
    expected = -(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    actual = per_example_loss(tf.constant(labels), tf.constant(logits)).numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-6)


def test_initial_weights_match_guide_recipe():
    weights, bias = _initial_parameters(seed=22)
    tf.random.set_seed(22)
    expected_w = tf.random.uniform([schema.NUM_FEATURES, 1], seed=22).numpy()
    expected_b = tf.random.uniform([], seed=22).numpy()
    np.testing.assert_array_equal(weights, expected_w)
    assert bias == pytest.approx(float(expected_b))


def _normalized_train(split):
    train_features = data.features_of(split[0])
    normalization = data.Normalization.fit(train_features)
    return normalization.apply(train_features), data.labels_of(split[0])


def test_one_full_batch_step_matches_numpy(split, strategy):
    x, y = _normalized_train(split)
    learning_rate, l2 = 0.5, 0.1
    options = trainer.TrainOptions(
        learning_rate=learning_rate,
        batch_size=len(x),
        epochs=1,
        seed=7,
        l2=l2,
        log_every_epochs=0,
    )
    w0, b0 = _initial_parameters(seed=7)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    error = _sigmoid(x64 @ w0[:, 0] + b0) - y64
    grad_w = x64.T @ error / len(x) + l2 * w0[:, 0]
    grad_b = error.mean()

    result = trainer.train_model(strategy, x, y, options)

    np.testing.assert_allclose(
        result.weights[:, 0], w0[:, 0] - learning_rate * grad_w, atol=1e-5
    )
    assert result.bias == pytest.approx(b0 - learning_rate * grad_b, abs=1e-5)


def test_short_last_batch_weighs_by_its_size(split, strategy):
    # 427 rows in batches of 100: four full batches and one of 27. The numpy
    # replay divides each batch's summed loss by that batch's row count.
    x, y = _normalized_train(split)
    seed, batch_size, learning_rate, epochs = 5, 100, 0.3, 2
    options = trainer.TrainOptions(
        learning_rate=learning_rate,
        batch_size=batch_size,
        epochs=epochs,
        seed=seed,
        log_every_epochs=0,
    )
    w, b = _initial_parameters(seed)
    w = w[:, 0]
    tf.random.set_seed(seed)
    order_dataset = (
        tf.data.Dataset.range(len(x))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .repeat()
    )
    batches = iter(order_dataset)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    for _ in range(epochs * 5):
        rows = next(batches).numpy()
        error = _sigmoid(x64[rows] @ w + b) - y64[rows]
        w = w - learning_rate * (x64[rows].T @ error) / len(rows)
        b = b - learning_rate * error.sum() / len(rows)

    result = trainer.train_model(strategy, x, y, options)

    np.testing.assert_allclose(result.weights[:, 0], w, atol=1e-5)
    assert result.bias == pytest.approx(b, abs=1e-5)


def test_default_run_test_accuracy(default_run):
    outcome, _ = default_run
    assert outcome.summary["test_accuracy"] >= 0.97


def test_default_run_metrics_file(default_run):
    outcome, output_dir = default_run
    written = json.loads((output_dir / "metrics.json").read_text())
    for key in (
        "train_accuracy",
        "train_log_loss",
        "test_accuracy",
        "test_log_loss",
        "threshold",
        "train_seconds",
        "model_dir",
        "model_version",
    ):
        assert key in written, key
    assert written["test_accuracy"] == outcome.summary["test_accuracy"]
    assert written["threshold"] == 0.5
    assert written["train_seconds"] > 0
    assert Path(written["model_dir"]).name == written["model_version"]


def test_metrics_are_whole_set_values(default_run, split):
    # Recompute from the trained weights in float64: a mean of batch means
    # would differ from this for the 427 training rows.
    outcome, _ = default_run
    for rows, prefix in ((split[0], "train"), (split[1], "test")):
        x = outcome.normalization.apply(data.features_of(rows)).astype(np.float64)
        y = data.labels_of(rows).astype(np.float64)
        p = _sigmoid(x @ outcome.train_result.weights[:, 0] + outcome.train_result.bias)
        loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        accuracy = np.mean((p >= 0.5) == (y == 1))
        assert outcome.summary[f"{prefix}_log_loss"] == pytest.approx(loss, abs=1e-5)
        assert outcome.summary[f"{prefix}_accuracy"] == pytest.approx(accuracy)


def test_history_has_every_epoch(default_run):
    _, output_dir = default_run
    history = json.loads((output_dir / "history.json").read_text())["epochs"]
    assert [record["epoch"] for record in history] == list(range(1, 201))
    assert history[-1]["test_log_loss"] < history[0]["test_log_loss"]


def _version_dir(default_run) -> Path:
    outcome, _ = default_run
    return Path(outcome.summary["model_dir"])


def test_export_layout(default_run):
    version_dir = _version_dir(default_run)
    assert version_dir.parent.name == "model"
    assert version_dir.name.isdigit()
    assert (version_dir / "saved_model.pb").is_file()
    assert (version_dir / schema.METADATA_RELPATH).is_file()
    leftovers = [p.name for p in version_dir.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


_RELOAD_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
features = np.array(json.loads(sys.stdin.read()), dtype=np.float32)
outputs = model.signatures[sys.argv[2]](features=tf.constant(features))
print(json.dumps({
    "signatures": sorted(model.signatures.keys()),
    "probability": outputs["probability"].numpy().astype(float).tolist(),
    "probability_dtype": outputs["probability"].dtype.name,
    "predicted_class": outputs["predicted_class"].numpy().tolist(),
    "class_dtype": outputs["predicted_class"].dtype.name,
    "threshold": float(model.threshold.numpy()),
    "mean": model.mean.numpy().astype(float).tolist(),
    "feature_names": [n.decode() for n in model.feature_names.numpy()],
    "model_version": model.model_version.numpy().decode(),
}))
"""


@pytest.fixture(scope="module")
def reloaded(default_run, split):
    raw_test = data.features_of(split[1])
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            _RELOAD_SCRIPT,
            str(_version_dir(default_run)),
            schema.SIGNATURE_KEY,
        ],
        input=json.dumps(raw_test.tolist()),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1]), raw_test


def test_reloaded_signature_matches_memory(default_run, reloaded):
    outcome, _ = default_run
    outputs, raw_test = reloaded
    in_memory = outcome.serving_model.serve(tf.constant(raw_test))
    np.testing.assert_allclose(
        outputs["probability"], in_memory["probability"].numpy(), atol=1e-6
    )
    assert outputs["predicted_class"] == in_memory["predicted_class"].numpy().tolist()


def test_reloaded_signature_matches_training_weights(default_run, reloaded):
    outcome, _ = default_run
    outputs, raw_test = reloaded
    x = outcome.normalization.apply(raw_test).astype(np.float64)
    expected = _sigmoid(
        x @ outcome.train_result.weights[:, 0] + outcome.train_result.bias
    )
    np.testing.assert_allclose(outputs["probability"], expected, atol=1e-5)


def test_reloaded_signature_contract(reloaded):
    outputs, raw_test = reloaded
    assert outputs["signatures"] == [schema.SIGNATURE_KEY]
    assert outputs["probability_dtype"] == "float32"
    assert outputs["class_dtype"] == "int64"
    assert len(outputs["probability"]) == len(raw_test)
    expected_class = [int(p >= 0.5) for p in outputs["probability"]]
    assert outputs["predicted_class"] == expected_class


def test_reloaded_variables_carry_metadata(default_run, reloaded, split):
    outcome, _ = default_run
    outputs, _ = reloaded
    assert outputs["feature_names"] == list(schema.FEATURE_NAMES)
    assert outputs["threshold"] == 0.5
    assert outputs["model_version"] == outcome.summary["model_version"]
    train_mean = data.features_of(split[0]).astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(outputs["mean"], train_mean, rtol=1e-6)


_METADATA_SCRIPT = """
import json, sys
with open(sys.argv[1]) as handle:
    metadata = json.load(handle)
metadata["tensorflow_imported"] = "tensorflow" in sys.modules
print(json.dumps(metadata))
"""


def test_metadata_json_readable_without_tensorflow(default_run, split):
    outcome, _ = default_run
    path = _version_dir(default_run) / schema.METADATA_RELPATH
    completed = subprocess.run(
        [sys.executable, "-c", _METADATA_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    metadata = json.loads(completed.stdout)
    assert metadata["tensorflow_imported"] is False
    assert metadata["format"] == "wdbc-logistic-regression"
    assert metadata["model_version"] == outcome.summary["model_version"]
    assert isinstance(metadata["model_version"], str)
    assert metadata["feature_names"] == list(schema.FEATURE_NAMES)
    assert metadata["threshold"] == 0.5
    assert "created_utc" in metadata
    train_rows = split[0][list(schema.FEATURE_NAMES)]
    np.testing.assert_allclose(
        metadata["normalization"]["mean"], train_rows.mean().to_numpy(), rtol=1e-6
    )
    np.testing.assert_allclose(
        metadata["normalization"]["std"],
        train_rows.std(ddof=0).to_numpy(),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--learning_rate", "-1"),
        ("--learning_rate", "fast"),
        ("--batch_size", "0"),
        ("--epochs", "2.5"),
        ("--threshold", "1.5"),
        ("--log_every_epochs", "0"),
    ],
)
def test_cli_rejects_invalid_flag(tmp_path, capsys, flag, value):
    code = cli.main(["--output_dir", str(tmp_path), flag, value])
    assert code == 2
    error = capsys.readouterr().err
    assert flag in error
    assert repr(value) in error or value in error


def test_cli_requires_output_dir(capsys):
    assert cli.main([]) == 2
    assert "--output_dir" in capsys.readouterr().err


def test_cli_bad_data_fails_before_training(tmp_path):
    bad = tmp_path / "bad.csv"
    rows = Path(dataset.DEFAULT_DATA_PATH).read_text().splitlines()
    rows[6] = rows[6].replace(",M,", ",Q,", 1).replace(",B,", ",Q,", 1)
    bad.write_text("\n".join(rows) + "\n")
    output_dir = tmp_path / "out"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "train",
            "--data",
            str(bad),
            "--output_dir",
            str(output_dir),
        ],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    error_lines = [
        line for line in completed.stderr.splitlines() if "wdbc-train: error" in line
    ]
    assert len(error_lines) == 1
    assert str(bad) in error_lines[0]
    assert "row 7" in error_lines[0]
    assert "invalid diagnosis 'Q'" in error_lines[0]
    assert not output_dir.exists()


def test_metrics_file_reports_quality(default_run):
    _, output_dir = default_run
    written = json.loads((output_dir / "metrics.json").read_text())
    for name in ("train", "test"):
        report = written[name]
        for key in (
            "accuracy",
            "log_loss",
            "roc_auc",
            "precision",
            "recall",
            "false_positive_rate",
            "false_negative_rate",
        ):
            assert 0.0 <= report[key] <= 1.0, f"{name} {key}"
        counts = np.array(report["confusion_matrix"])
        assert counts.sum() == written["data"][f"{name}_rows"]
        assert report["accuracy"] == pytest.approx(np.trace(counts) / counts.sum())
        normalized = np.array(report["confusion_matrix_normalized"])
        np.testing.assert_allclose(normalized.sum(axis=1), 1.0)
    assert written["test_roc_auc"] == written["test"]["roc_auc"]
    assert written["num_replicas"] == 1


def test_metrics_file_records_run_inputs(default_run):
    _, output_dir = default_run
    written = json.loads((output_dir / "metrics.json").read_text())
    expected_sha = dataset.file_sha256(dataset.DEFAULT_DATA_PATH)
    assert written["data"]["sha256"] == expected_sha
    hyperparameters = written["hyperparameters"]
    assert hyperparameters["learning_rate"] == 0.01
    assert hyperparameters["batch_size"] == 64
    assert hyperparameters["epochs"] == 200
    assert hyperparameters["seed"] == 22
    assert hyperparameters["l2"] == 0.0
    assert hyperparameters["threshold"] == 0.5
    assert hyperparameters["folds"] == 5


def test_metrics_file_cross_validation(default_run):
    outcome, output_dir = default_run
    written = json.loads((output_dir / "metrics.json").read_text())
    estimate = written["cross_validation"]
    assert estimate["folds"] == 5
    per_fold = estimate["per_fold"]
    assert sum(fold["rows"] for fold in per_fold) == 427
    for key in ("accuracy", "log_loss", "roc_auc"):
        values = [fold[key] for fold in per_fold]
        assert estimate[f"{key}_mean"] == pytest.approx(np.mean(values))
        assert estimate[f"{key}_std"] == pytest.approx(np.std(values))
    assert 0.9 < estimate["accuracy_mean"] <= 1.0
    out_of_fold = outcome.cross_validation.out_of_fold_probabilities
    assert np.all((out_of_fold > 0) & (out_of_fold < 1))


def test_same_seed_gives_identical_metrics(tmp_path):
    summaries = []
    for name in ("first", "second"):
        config = run.RunConfig(
            data_path=dataset.DEFAULT_DATA_PATH,
            output_dir=str(tmp_path / name),
            options=trainer.TrainOptions(epochs=50, log_every_epochs=0),
            folds=2,
            write_plots=False,
        )
        outcome = run.run_training(config)
        summaries.append((outcome.summary, outcome.train_result))
    (first, first_result), (second, second_result) = summaries
    for key in ("train", "test", "cross_validation"):
        assert first[key] == second[key], key
    np.testing.assert_array_equal(first_result.weights, second_result.weights)
    assert first_result.bias == second_result.bias


def test_cli_rejects_threshold_with_rate_limit(tmp_path, capsys):
    code = cli.main(
        [
            "--output_dir",
            str(tmp_path),
            "--threshold",
            "0.4",
            "--max_false_negative_rate",
            "0.05",
        ]
    )
    assert code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_cli_rejects_selection_without_folds(tmp_path, capsys):
    output_dir = tmp_path / "out"
    code = cli.main(["--output_dir", str(output_dir), "--folds", "0", "--select_by_cv"])
    assert code == 2
    assert "folds >= 2" in capsys.readouterr().err
    assert not output_dir.exists()


def test_cli_rejects_invalid_grid(tmp_path, capsys):
    code = cli.main(["--output_dir", str(tmp_path), "--cv_learning_rates", "0.1,0"])
    assert code == 2
    assert "'0'" in capsys.readouterr().err


def test_cli_rejects_unknown_device(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "train",
            "--output_dir",
            str(tmp_path / "out"),
            "--devices",
            "CPU:7",
        ],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert "device 'CPU:7' is not visible" in completed.stderr


def test_cv_folds_log_no_retracing_warning(tmp_path, caplog):
    config = run.RunConfig(
        data_path=dataset.DEFAULT_DATA_PATH,
        output_dir=str(tmp_path / "out"),
        options=trainer.TrainOptions(epochs=2, log_every_epochs=0),
        folds=6,
        write_plots=False,
    )
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        run.run_training(config)
    # Only the training step is checked: the suite exports many models in
    # one process, so the export's own function may be traced often here.
    messages = [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if "run_epochs" in m and "retracing" in m]


def _write_class_subset(path: Path, malignant: int, benign: int) -> str:
    """Write the first ``malignant`` M rows, then the first ``benign`` B rows."""
    rows = Path(dataset.DEFAULT_DATA_PATH).read_text().splitlines()
    chosen = [row for row in rows if ",M," in row][:malignant]
    chosen += [row for row in rows if ",B," in row][:benign]
    path.write_text("\n".join(chosen) + "\n")
    return str(path)


@pytest.mark.parametrize(
    ("malignant", "benign", "problem"),
    [
        (4, 26, "the test split has no malignant (M) rows"),
        (0, 40, "the training split has no malignant (M) rows"),
        (15, 0, "the training split has no benign (B) rows"),
    ],
)
def test_cli_one_class_split_fails_before_training(
    tmp_path, capsys, malignant, benign, problem
):
    path = _write_class_subset(tmp_path / "subset.csv", malignant, benign)
    output_dir = tmp_path / "out"

    code = cli.main(["--data", path, "--output_dir", str(output_dir), "--no_plots"])

    assert code == 2
    error = capsys.readouterr().err
    assert path in error
    assert problem in error
    assert not output_dir.exists()


def test_cli_too_few_rows_per_fold_suggests_folds(tmp_path, capsys):
    # 6 M and 26 B rows leave 5 M rows in the training split.
    path = _write_class_subset(tmp_path / "subset.csv", 6, 26)
    output_dir = tmp_path / "out"

    code = cli.main(["--data", path, "--output_dir", str(output_dir), "--folds", "6"])

    assert code == 2
    error = capsys.readouterr().err
    assert path in error
    assert "--folds 6 needs at least 6 malignant (M) rows" in error
    assert "found 5" in error
    assert "--folds 5 or smaller" in error
    assert not output_dir.exists()


def test_small_data_enough_per_fold_trains(tmp_path):
    path = _write_class_subset(tmp_path / "subset.csv", 6, 26)
    output_dir = tmp_path / "out"
    config = run.RunConfig(
        data_path=path,
        output_dir=str(output_dir),
        options=trainer.TrainOptions(epochs=5, log_every_epochs=0),
        folds=5,
        write_plots=False,
    )

    run.run_training(config)

    written = json.loads((output_dir / "metrics.json").read_text())
    per_fold = written["cross_validation"]["per_fold"]
    assert len(per_fold) == 5
    assert all(fold["roc_auc"] is not None for fold in per_fold)
    assert len(list((output_dir / "model").iterdir())) == 1


def test_cv_summary_undefined_auc_is_null():
    # The second fold holds out only benign rows, so its ROC AUC is undefined.
    labels = np.array([1, 0, 1, 0, 0, 0], np.float32)
    validation = cv.CrossValidation(
        options=trainer.TrainOptions(),
        labels=labels,
        held_out_rows=[np.array([0, 1, 2, 3]), np.array([4, 5])],
        out_of_fold_probabilities=np.array([0.9, 0.2, 0.6, 0.7, 0.1, 0.3]),
        mean_validation_log_loss=[0.5],
    )

    summary = validation.summary(0.5)

    assert summary["per_fold"][0]["roc_auc"] == 0.75
    assert summary["per_fold"][1]["roc_auc"] is None
    assert summary["roc_auc_mean"] == 0.75
    assert summary["roc_auc_std"] == 0.0
    json.dumps(summary, allow_nan=False)


def test_failed_metrics_write_removes_export(tmp_path):
    output_dir = tmp_path / "out"
    # A folder where metrics.json belongs makes that write fail after export.
    (output_dir / "metrics.json").mkdir(parents=True)
    config = run.RunConfig(
        data_path=dataset.DEFAULT_DATA_PATH,
        output_dir=str(output_dir),
        options=trainer.TrainOptions(epochs=2, log_every_epochs=0),
        folds=0,
        write_plots=False,
    )

    with pytest.raises(Exception, match="metrics.json"):
        run.run_training(config)

    model_root = output_dir / "model"
    assert model_root.is_dir()
    assert list(model_root.iterdir()) == []
    assert not (output_dir / "history.json").exists()


def test_cli_normalized_overflow_fails_before_training(tmp_path, capsys):
    rows = [
        line.split(",") for line in Path(dataset.DEFAULT_DATA_PATH).read_text().split()
    ]
    # Both values are float32, but 3.4e38 minus a mean near -3e38 is not.
    for index, row in enumerate(rows):
        row[2] = "3.4e38" if index % 20 == 0 else "-3.4e38"
    path = tmp_path / "overflow.csv"
    path.write_text("\n".join(",".join(row) for row in rows) + "\n")
    output_dir = tmp_path / "out"

    code = cli.main(["--data", str(path), "--output_dir", str(output_dir)])

    assert code == 2
    error = capsys.readouterr().err
    assert str(path) in error
    assert "value 3.4e+38 for radius_mean overflows float32 when normalized" in error
    row_number = int(error.split(": row ")[1].split(":")[0])
    assert (row_number - 1) % 20 == 0
    assert not output_dir.exists()


def test_cli_truncated_gzip_fails_before_training(tmp_path, capsys):
    compressed = gzip.compress(Path(dataset.DEFAULT_DATA_PATH).read_bytes())
    path = tmp_path / "cut.data.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    output_dir = tmp_path / "out"

    code = cli.main(["--data", str(path), "--output_dir", str(output_dir)])

    assert code == 2
    error = capsys.readouterr().err
    assert f"{path}: truncated or corrupt gzip data" in error
    assert not output_dir.exists()


def test_cli_diverged_training_fails(tmp_path, capsys):
    output_dir = tmp_path / "out"
    code = cli.main(
        [
            "--output_dir",
            str(output_dir),
            "--learning_rate",
            "1e38",
            "--epochs",
            "3",
            "--folds",
            "0",
            "--no_plots",
        ]
    )
    assert code == 2
    assert "Training diverged" in capsys.readouterr().err
    assert not output_dir.exists()
