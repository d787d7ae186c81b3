"""DoFns and composite transforms of the scoring pipeline."""

import datetime
import json
import logging
import math

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from apache_beam.io import filebasedsink
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.utils import shared

from pipeline import readers, rejections, report
from pipeline.model import load_model
from wdbc import schema, statistics

_LOGGER = logging.getLogger(__name__)

REJECTED_TAG = "rejected"
FILE_COUNTS_TAG = "file_counts"
SCORE_COUNTS_TAG = "score_counts"
_NAMESPACE = "wdbc"

SUMMARY_NAME = "summary.json"
SUCCESS_NAME = "_SUCCESS"

SCORED_SCHEMA = pa.schema(
    [
        (schema.ID_COLUMN, pa.string()),
        (schema.PROBABILITY_KEY, pa.float64()),
        (schema.CLASS_KEY, pa.int64()),
        (schema.MODEL_VERSION_COLUMN, pa.string()),
    ]
)


class ReadShardsFn(beam.DoFn):
    """Read one shard path into feature batches and rejected rows."""

    def __init__(self, batch_rows: int):
        self._batch_rows = batch_rows
        self._files = Metrics.counter(_NAMESPACE, "files_read")
        self._rows_read = Metrics.counter(_NAMESPACE, "rows_read")
        self._rows_rejected = Metrics.counter(_NAMESPACE, "rows_rejected")

    def process(self, path: str):
        rows_read = 0
        rows_rejected = 0
        for item in readers.read_shard(path, self._batch_rows):
            if isinstance(item, readers.RejectedRow):
                rows_read += 1
                rows_rejected += 1
                yield beam.pvalue.TaggedOutput(REJECTED_TAG, item)
            else:
                rows_read += len(item)
                yield item
        self._files.inc()
        self._rows_read.inc(rows_read)
        self._rows_rejected.inc(rows_rejected)
        yield beam.pvalue.TaggedOutput(
            FILE_COUNTS_TAG,
            {"source": path, "rows_read": rows_read, "rows_rejected": rows_rejected},
        )


def _score_counts(batch: readers.FeatureBatch, predicted: np.ndarray) -> dict:
    """Count a batch's scored rows and its confusion matrix against the labels."""
    labelled = batch.labels != readers.NO_LABEL
    actual = batch.labels[labelled] == 1
    guessed = predicted[labelled] == 1
    return {
        "source": batch.source,
        "rows_scored": len(batch),
        "true_positive": int(np.sum(actual & guessed)),
        "false_positive": int(np.sum(~actual & guessed)),
        "true_negative": int(np.sum(~actual & ~guessed)),
        "false_negative": int(np.sum(actual & ~guessed)),
    }


class ScoreBatchesFn(beam.DoFn):
    """Score feature batches with the export, loaded once per worker process."""

    def __init__(self, version_dir: str):
        self._version_dir = version_dir
        self._shared = shared.Shared()
        self._model = None
        self._rows_scored = Metrics.counter(_NAMESPACE, "rows_scored")
        self._rows_rejected = Metrics.counter(_NAMESPACE, "rows_rejected")
        self._batches = Metrics.counter(_NAMESPACE, "batches_scored")
        self._loads = Metrics.counter(_NAMESPACE, "model_loads")

    def setup(self):
        # The model is loaded on the first batch, not here: the multi-process
        # local runner sets up every stage in every worker process, also in
        # those that are given no batch, and each load imports TensorFlow.
        self._model = None

    def _acquire_model(self) -> None:
        loaded_here = False

        def load():
            nonlocal loaded_here
            loaded_here = True
            return load_model(self._version_dir)

        self._model = self._shared.acquire(load, tag=self._version_dir)
        # Another thread of this process may have loaded it already.
        if loaded_here:
            self._loads.inc()

    def process(self, batch: readers.FeatureBatch):
        if self._model is None:
            self._acquire_model()
        probability, predicted = self._model.predict(batch.features)
        batch, probability, predicted, rejected = _reject_unscorable(
            batch, probability, predicted, self._model.normalized_overflow
        )
        for row in rejected:
            yield beam.pvalue.TaggedOutput(REJECTED_TAG, row)
        self._rows_rejected.inc(len(rejected))
        self._rows_scored.inc(len(batch))
        self._batches.inc()
        n = len(batch)
        counts = _score_counts(batch, predicted)
        counts["rows_rejected"] = len(rejected)
        yield beam.pvalue.TaggedOutput(SCORE_COUNTS_TAG, counts)
        if not n:
            return
        yield pa.Table.from_arrays(
            [
                batch.ids,
                pa.array(probability.astype(np.float64)),
                pa.array(predicted),
                pa.repeat(pa.scalar(self._model.model_version, pa.string()), n),
            ],
            schema=SCORED_SCHEMA,
        )
        yield from self.scored_outputs(batch, probability, predicted)

    def scored_outputs(
        self,
        batch: readers.FeatureBatch,
        probability: np.ndarray,
        predicted: np.ndarray,
    ):
        """Yield extra outputs for the scored rows of a batch; none here."""
        return iter(())


def _reject_unscorable(
    batch: readers.FeatureBatch,
    probability: np.ndarray,
    predicted: np.ndarray,
    normalized_overflow,
) -> tuple:
    """Split off the rows that the model cannot score to a finite probability.

    A row is rejected when a normalized value is not finite in float32, or
    when the probability is NaN (an infinite logit sum of opposite signs).
    ``normalized_overflow`` returns the mask of non-finite normalized values,
    or None when no value can overflow. Returns the batch, probabilities and
    classes of the other rows, and the rejected rows.
    """
    overflow = normalized_overflow(batch.features)
    bad = np.isnan(probability)
    if overflow is not None:
        bad |= overflow.any(axis=1)
    if not bad.any():
        return batch, probability, predicted, []
    rejected = []
    for i in np.flatnonzero(bad):
        columns = [] if overflow is None else np.flatnonzero(overflow[i])
        if len(columns):
            names = ", ".join(schema.FEATURE_NAMES[j] for j in columns)
            reason = f"normalized value is not finite in {names}"
        else:
            reason = "the model returned a NaN probability"
        values = {schema.ID_COLUMN: batch.ids[int(i)].as_py()}
        for name, value in zip(schema.FEATURE_NAMES, batch.features[i]):
            values[name] = float(value)
        rejected.append(
            readers.RejectedRow(batch.source, int(batch.rows[i]), reason, values)
        )
    good = ~bad
    return batch.select(good), probability[good], predicted[good], rejected


class _ScoredParquetSink(filebasedsink.FileBasedSink):
    """A Parquet sink for scored tables, one row group per table.

    Beam's ``WriteToParquetBatched`` writes with Parquet's default dictionary
    encoding on every column. The ids and probabilities are almost all
    distinct, so their dictionaries only cost time: writing 8192 scored rows
    took 1.33 ms with them and 0.47 ms with a dictionary for the model version
    and the class only. Like Beam's sink, it writes uncompressed.
    """

    def __init__(self, file_path_prefix: str, file_name_suffix: str):
        super().__init__(
            file_path_prefix,
            coder=None,
            file_name_suffix=file_name_suffix,
            mime_type="application/x-parquet",
            # A Parquet file is not compressed as a whole: its pages are.
            compression_type=CompressionTypes.UNCOMPRESSED,
        )

    def open(self, temp_path):
        handle = super().open(temp_path)
        writer = pq.ParquetWriter(
            handle,
            SCORED_SCHEMA,
            compression="none",
            use_dictionary=[schema.CLASS_KEY, schema.MODEL_VERSION_COLUMN],
        )
        return handle, writer

    def write_record(self, file_handle, value: pa.Table):
        _, writer = file_handle
        writer.write_table(value)

    def close(self, file_handle):
        handle, writer = file_handle
        writer.close()
        handle.close()


def _table_to_csv(table: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=False))
    return sink.getvalue().to_pybytes().decode("utf-8").rstrip("\n")


def _table_to_jsonl(table: pa.Table) -> str:
    return "\n".join(json.dumps(row) for row in table.to_pylist())


class WriteScored(beam.PTransform):
    """Write scored tables as ``scored-SSSSS-of-NNNNN.<format>`` shards."""

    def __init__(self, output_dir: str, output_format: str):
        super().__init__()
        self._prefix = f"{output_dir}/scored"
        self._format = output_format

    def expand(self, tables):
        suffix = f".{self._format}"
        if self._format == "parquet":
            return tables | "WriteParquet" >> beam.io.Write(
                _ScoredParquetSink(self._prefix, suffix)
            )
        if self._format == "csv":
            lines = tables | "FormatCsv" >> beam.Map(_table_to_csv)
            header = ",".join(SCORED_SCHEMA.names)
            return lines | "WriteCsv" >> beam.io.WriteToText(
                self._prefix, file_name_suffix=suffix, header=header
            )
        lines = tables | "FormatJsonl" >> beam.Map(_table_to_jsonl)
        return lines | "WriteJsonl" >> beam.io.WriteToText(
            self._prefix, file_name_suffix=suffix
        )


class WriteRejected(beam.PTransform):
    """Write rejected rows as ``rejected-SSSSS-of-NNNNN.jsonl``, one a line."""

    def __init__(self, output_dir: str):
        super().__init__()
        self._prefix = f"{output_dir}/rejected"

    def expand(self, rejected):
        return (
            rejected
            | "FormatRejected" >> beam.Map(lambda r: json.dumps(r.to_record()))
            | "WriteRejectedJsonl"
            >> beam.io.WriteToText(self._prefix, file_name_suffix=".jsonl")
        )


_CONFUSION_KEYS = ("true_positive", "false_positive", "true_negative", "false_negative")


class CountRowsFn(beam.CombineFn):
    """Sum the per-file read counts and per-batch score counts into one dict.

    The accumulator maps each source file to its ``rows_read``,
    ``rows_rejected`` and ``rows_scored``, plus the confusion matrix cells
    summed over all files.
    """

    def create_accumulator(self):
        return {"files": {}, "confusion": dict.fromkeys(_CONFUSION_KEYS, 0)}

    def add_input(self, accumulator, counts):
        per_file = accumulator["files"].setdefault(
            counts["source"], {"rows_read": 0, "rows_scored": 0, "rows_rejected": 0}
        )
        for key in ("rows_read", "rows_scored", "rows_rejected"):
            per_file[key] += counts.get(key, 0)
        for key in _CONFUSION_KEYS:
            accumulator["confusion"][key] += counts.get(key, 0)
        return accumulator

    def merge_accumulators(self, accumulators):
        merged = self.create_accumulator()
        for accumulator in accumulators:
            for source, counts in accumulator["files"].items():
                self.add_input(merged, {"source": source, **counts})
            for key in _CONFUSION_KEYS:
                merged["confusion"][key] += accumulator["confusion"][key]
        return merged

    def extract_output(self, accumulator):
        return accumulator


def build_summary(
    counts: dict,
    metadata: dict,
    started_at: str,
    scored_files: list[str],
    rejected_files: list[str],
) -> dict:
    """Build the ``summary.json`` record of a run from its combined counts.

    Raises:
      ValueError: a file's rows read differ from its rows scored plus rejected,
        so a row was lost or counted twice.
    """
    files = dict(sorted(counts["files"].items()))
    for source, per_file in files.items():
        accounted = per_file["rows_scored"] + per_file["rows_rejected"]
        if per_file["rows_read"] != accounted:
            raise ValueError(
                f"{source}: read {per_file['rows_read']} rows but scored "
                f"{per_file['rows_scored']} and rejected {per_file['rows_rejected']}"
            )
    summary = {
        "rows_read": sum(f["rows_read"] for f in files.values()),
        "rows_scored": sum(f["rows_scored"] for f in files.values()),
        "rows_rejected": sum(f["rows_rejected"] for f in files.values()),
        "files_read": len(files),
        "files": files,
        "model_version": str(metadata["model_version"]),
        "threshold": float(metadata["threshold"]),
        "started_at": started_at,
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "scored_files": sorted(FileSystems.split(p)[1] for p in scored_files),
        "rejected_files": sorted(FileSystems.split(p)[1] for p in rejected_files),
    }
    confusion = counts["confusion"]
    labelled = sum(confusion.values())
    if labelled:
        correct = confusion["true_positive"] + confusion["true_negative"]
        summary["evaluation"] = {
            "labelled_rows": labelled,
            "accuracy": correct / labelled,
            "confusion_matrix": dict(confusion),
        }
    return summary


def _finite_or_none(value):
    """Return ``value`` with every NaN or infinite float replaced by None."""
    if isinstance(value, dict):
        return {key: _finite_or_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summary_json(summary: dict) -> str:
    """Return ``summary`` as strict JSON, with null for non-finite numbers.

    Python's ``json`` would write NaN and Infinity, which strict parsers reject.
    """
    return json.dumps(_finite_or_none(summary), indent=2, allow_nan=False)


class WriteSummaryFn(beam.DoFn):
    """Write ``summary.json``, ``report.html`` and then ``_SUCCESS``.

    ``_SUCCESS`` is left out when the drift gate of ``--max_psi`` or the
    rejected-rows gate failed.

    The finalized file names of the scored and rejected writes arrive as side
    inputs, so this step runs only after both writes have renamed their
    shards into place. Running it inside the pipeline keeps that order on
    runners whose launcher does not wait for the job to finish.
    """

    def __init__(
        self,
        output_dir: str,
        metadata: dict,
        started_at: str,
        max_rejected_share: float | None = None,
    ):
        self._output_dir = output_dir
        self._metadata = metadata
        self._started_at = started_at
        self._max_rejected_share = max_rejected_share

    def process(
        self, unused_element, counts, scored_files, rejected_files, drift, reasons
    ):
        summary = build_summary(
            counts, self._metadata, self._started_at, scored_files, rejected_files
        )
        summary["rejected_by_reason"] = reasons
        summary["drift"] = drift
        summary["rejections"] = rejections.rejection_gate(
            summary, self._max_rejected_share
        )
        summary_path = FileSystems.join(self._output_dir, SUMMARY_NAME)
        with FileSystems.create(summary_path) as f:
            f.write(summary_json(summary).encode("utf-8"))
        training = self._metadata[statistics.METADATA_KEY]
        report.write_report(self._output_dir, summary, training)
        if not summary["rejections"]["passed"]:
            _LOGGER.error("Rejection gate failed: %s", summary["rejections"]["message"])
        if drift["gate"]["passed"] and summary["rejections"]["passed"]:
            with FileSystems.create(FileSystems.join(self._output_dir, SUCCESS_NAME)):
                pass
        files = summary["files_read"]
        _LOGGER.info(
            "Read %d rows from %d %s: %d scored, %d rejected",
            summary["rows_read"],
            files,
            "file" if files == 1 else "files",
            summary["rows_scored"],
            summary["rows_rejected"],
        )
        yield summary_path


class WriteSummary(beam.PTransform):
    """Combine the run's counts and write ``summary.json`` and ``_SUCCESS``."""

    def __init__(
        self,
        output_dir: str,
        metadata: dict,
        started_at: str,
        max_rejected_share: float | None = None,
    ):
        super().__init__()
        self._write_fn = WriteSummaryFn(
            output_dir, metadata, started_at, max_rejected_share
        )

    def expand(self, inputs):
        (
            file_counts,
            score_counts,
            scored_files,
            rejected_files,
            drift,
            rejected_reasons,
        ) = inputs
        counts = (
            (file_counts, score_counts)
            | "FlattenCounts" >> beam.Flatten()
            | "CombineCounts" >> beam.CombineGlobally(CountRowsFn())
        )
        pipeline = file_counts.pipeline
        return (
            pipeline
            | "StartSummary" >> beam.Create([None])
            | "WriteSummaryFiles"
            >> beam.ParDo(
                self._write_fn,
                counts=beam.pvalue.AsSingleton(counts),
                scored_files=beam.pvalue.AsList(scored_files),
                rejected_files=beam.pvalue.AsList(rejected_files),
                drift=beam.pvalue.AsSingleton(drift),
                reasons=beam.pvalue.AsSingleton(rejected_reasons),
            )
        )
