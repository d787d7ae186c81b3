"""Multi-replica training: 1 and 2 CPU replicas must give the same weights.

Logical CPU devices are fixed once TensorFlow initializes its devices, so
each run is a separate ``python -m train`` process.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

CASES = [(replicas, batch) for batch in (64, 71) for replicas in (1, 2)]


@pytest.fixture(scope="module")
def replica_runs(tmp_path_factory):
    """Run the four (replicas, batch size) trainings two at a time."""
    base = tmp_path_factory.mktemp("replicas")
    processes = {}
    outcomes = {}
    for case in CASES:
        replicas, batch = case
        output_dir = base / f"r{replicas}_b{batch}"
        command = [
            sys.executable,
            "-m",
            "train",
            "--output_dir",
            str(output_dir),
            "--cpu_devices",
            str(replicas),
            "--batch_size",
            str(batch),
            "--folds",
            "0",
            "--no_plots",
        ]
        processes[case] = (
            subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
            output_dir,
        )
        if len(processes) % 2 == 0:
            for waiting, (process, directory) in list(processes.items()):
                if waiting not in outcomes:
                    outcomes[waiting] = _finish(process, directory)
    return outcomes


def _finish(process, output_dir):
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    metrics = json.loads((output_dir / "metrics.json").read_text())
    model = tf.saved_model.load(metrics["model_dir"])
    return {
        "metrics": metrics,
        "weights": model.weights.numpy()[:, 0],
        "bias": float(model.bias.numpy()),
        "stderr": stderr,
    }


@pytest.mark.parametrize("replicas", [1, 2])
def test_replica_count_reported(replica_runs, replicas):
    run = replica_runs[(replicas, 64)]
    assert run["metrics"]["num_replicas"] == replicas
    assert f"Training with {replicas} replica(s)" in run["stderr"]


@pytest.mark.parametrize("batch", [64, 71])
def test_two_replicas_match_one(replica_runs, batch):
    # 427 rows: batch 64 leaves a last batch of 43 (22 + 21 rows a replica),
    # batch 71 leaves one row, so the second replica's slice is empty.
    single = replica_runs[(1, batch)]
    mirrored = replica_runs[(2, batch)]
    np.testing.assert_allclose(mirrored["weights"], single["weights"], atol=1e-5)
    assert mirrored["bias"] == pytest.approx(single["bias"], abs=1e-5)
    for key in ("train_log_loss", "test_log_loss"):
        assert mirrored["metrics"][key] == pytest.approx(
            single["metrics"][key], abs=1e-5
        )


def test_batch_sizes_give_different_models(replica_runs):
    # Guards the comparison above: the batch size must change the result.
    first = replica_runs[(1, 64)]["weights"]
    second = replica_runs[(1, 71)]["weights"]
    assert np.max(np.abs(first - second)) > 1e-3
