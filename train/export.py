"""SavedModel export with its normalization, threshold and metadata JSON."""

import datetime
import json
import logging
import os
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems

from train.data import Normalization
from wdbc import schema, storage

_LOGGER = logging.getLogger(__name__)

# Marks the metadata JSON as this project's export, so scoring can reject
# any other SavedModel. Bump FORMAT_VERSION when the signature changes.
EXPORT_FORMAT = "wdbc-logistic-regression"
FORMAT_VERSION = 1

_COPY_CHUNK_BYTES = 1 << 20


class ServingModel(tf.Module):
    """Raw features in, P(malignant) and the predicted class out.

    Every value needed to score raw rows is a variable of this module, so it
    is stored in the SavedModel itself: weights, bias, normalization mean and
    std, threshold, feature names and model version.
    """

    def __init__(
        self,
        weights: np.ndarray,
        bias: float,
        normalization: Normalization,
        threshold: float,
        model_version: str,
    ):
        super().__init__(name="wdbc_logistic_regression")
        constant = dict(trainable=False)
        self.weights = tf.Variable(np.asarray(weights, np.float32), **constant)
        self.bias = tf.Variable(np.float32(bias), **constant)
        self.mean = tf.Variable(normalization.mean.astype(np.float32), **constant)
        self.std = tf.Variable(normalization.std.astype(np.float32), **constant)
        self.threshold = tf.Variable(np.float32(threshold), **constant)
        self.feature_names = tf.Variable(list(schema.FEATURE_NAMES), **constant)
        self.model_version = tf.Variable(model_version, **constant)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, schema.NUM_FEATURES], tf.float32, name="features")
        ]
    )
    def serve(self, features):
        """Score raw features [batch, 30] given in ``schema.FEATURE_NAMES`` order."""
        normalized = (features - self.mean) / self.std
        logits = tf.squeeze(tf.matmul(normalized, self.weights), axis=1) + self.bias
        probability = tf.sigmoid(logits)
        predicted_class = tf.cast(probability >= self.threshold, tf.int64)
        return {
            schema.PROBABILITY_KEY: probability,
            schema.CLASS_KEY: predicted_class,
        }


def new_model_version(model_root: str) -> str:
    """Return the current UTC time in seconds, later if that folder exists."""
    version = int(time.time())
    while _folder_exists(FileSystems.join(model_root, str(version))):
        version += 1
    return str(version)


def _folder_exists(path: str) -> bool:
    if not storage.is_remote(path):
        return os.path.exists(path)
    # Object stores have no folders: a folder exists when an object is under it.
    pattern = FileSystems.join(path, "**")
    return bool(FileSystems.match([pattern], limits=[1])[0].metadata_list)


def build_metadata(model: ServingModel, extra: dict | None = None) -> dict:
    """Return the metadata JSON content for ``model``."""
    metadata = {
        "format": EXPORT_FORMAT,
        "format_version": FORMAT_VERSION,
        "model_version": model.model_version.numpy().decode(),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "feature_names": list(schema.FEATURE_NAMES),
        "threshold": float(model.threshold.numpy()),
        "normalization": {
            "mean": model.mean.numpy().astype(float).tolist(),
            "std": model.std.numpy().astype(float).tolist(),
        },
        "signature": {
            "key": schema.SIGNATURE_KEY,
            "input": schema.INPUT_KEY,
            "outputs": [schema.PROBABILITY_KEY, schema.CLASS_KEY],
        },
    }
    metadata.update(extra or {})
    return metadata


def export_model(
    model: ServingModel, model_root: str, metadata_extra: dict | None = None
) -> str:
    """Save ``model`` to ``model_root/<model_version>/`` and return that path.

    On a local disk the SavedModel and ``schema.METADATA_RELPATH`` are written
    to a temporary sibling folder first and renamed into place, so a server
    that watches ``model_root`` never finds a half-written version.

    For a remote ``model_root`` such as ``gs://``, TensorFlow saves to a local
    temporary folder and the files are uploaded through Beam's FileSystems,
    because TensorFlow's own GCS client ignores the credentials and endpoint
    that Beam and google-cloud-storage use. Object stores have no rename, so
    ``saved_model.pb`` is uploaded after the variables and the metadata JSON
    last: scoring finds versions by that JSON and never picks up a partial
    upload.
    """
    version = model.model_version.numpy().decode()
    version_dir = FileSystems.join(model_root, version)
    metadata = build_metadata(model, metadata_extra)
    if storage.is_remote(model_root):
        with tempfile.TemporaryDirectory(prefix="wdbc-export-") as staging_dir:
            _save(model, staging_dir, metadata)
            count = _upload_folder(staging_dir, version_dir)
        _LOGGER.info(
            "Exported model version %s to %s (%d files uploaded)",
            version,
            version_dir,
            count,
        )
        return version_dir

    staging_dir = FileSystems.join(model_root, f".staging-{version}")
    shutil.rmtree(staging_dir, ignore_errors=True)
    _save(model, staging_dir, metadata)
    os.replace(staging_dir, version_dir)
    _LOGGER.info("Exported model version %s to %s", version, version_dir)
    return version_dir


def _save(model: ServingModel, local_dir: str, metadata: dict) -> None:
    signatures = {schema.SIGNATURE_KEY: model.serve}
    tf.saved_model.save(model, local_dir, signatures=signatures)
    write_json(os.path.join(local_dir, schema.METADATA_RELPATH), metadata)


def _upload_order(relative_path: str) -> int:
    if relative_path == schema.METADATA_RELPATH:
        return 2
    if relative_path == tf.saved_model.SAVED_MODEL_FILENAME_PB:
        return 1
    return 0


def _upload_folder(local_dir: str, remote_dir: str) -> int:
    """Copy every file under ``local_dir`` to ``remote_dir``; return the count."""
    relative_paths = []
    for folder, _, names in os.walk(local_dir):
        for name in names:
            path = os.path.join(folder, name)
            relative_paths.append(os.path.relpath(path, local_dir).replace(os.sep, "/"))
    relative_paths.sort(key=lambda p: (_upload_order(p), p))
    for relative in relative_paths:
        target = FileSystems.join(remote_dir, relative)
        with open(os.path.join(local_dir, relative), "rb") as src:
            with FileSystems.create(target) as dst:
                shutil.copyfileobj(src, dst, _COPY_CHUNK_BYTES)
    return len(relative_paths)


def encode_json(content: dict) -> bytes:
    """Encode ``content`` as indented JSON, raising ValueError on NaN or infinity."""
    return (json.dumps(content, indent=2, allow_nan=False) + "\n").encode()


def write_json(path: str, content: dict | bytes) -> None:
    """Write ``content`` (a dict, or ``encode_json`` output) through FileSystems."""
    encoded = content if isinstance(content, bytes) else encode_json(content)
    with FileSystems.create(path, mime_type="application/json") as handle:
        handle.write(encoded)


def remove_version(version_dir: str) -> None:
    """Delete an exported version folder, so scoring never picks it up."""
    _LOGGER.warning("Removing model version %s because the run failed", version_dir)
    if storage.is_remote(version_dir):
        FileSystems.delete([version_dir])
    else:
        shutil.rmtree(version_dir, ignore_errors=True)
