"""DoFns and composite transforms of the scoring pipeline."""

import json
import logging

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
from apache_beam.metrics import Metrics
from apache_beam.utils import shared

from pipeline import readers
from pipeline.model import load_model
from wdbc import schema

_LOGGER = logging.getLogger(__name__)

REJECTED_TAG = "rejected"
_NAMESPACE = "wdbc"

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
        self._files.inc()
        for item in readers.read_shard(path, self._batch_rows):
            if isinstance(item, readers.RejectedRow):
                self._rows_read.inc()
                self._rows_rejected.inc()
                yield beam.pvalue.TaggedOutput(REJECTED_TAG, item)
            else:
                self._rows_read.inc(len(item))
                yield item


class ScoreBatchesFn(beam.DoFn):
    """Score feature batches with the export, loaded once per worker process."""

    def __init__(self, version_dir: str):
        self._version_dir = version_dir
        self._shared = shared.Shared()
        self._model = None
        self._rows_scored = Metrics.counter(_NAMESPACE, "rows_scored")
        self._batches = Metrics.counter(_NAMESPACE, "batches_scored")
        self._loads = Metrics.counter(_NAMESPACE, "model_loads")

    def setup(self):
        self._loaded_here = False

        def load():
            self._loaded_here = True
            return load_model(self._version_dir)

        self._model = self._shared.acquire(load, tag=self._version_dir)

    def process(self, batch: readers.FeatureBatch):
        # Counters only reach a step's metrics from inside a bundle, so the
        # load made in setup() is counted on the first element.
        if self._loaded_here:
            self._loaded_here = False
            self._loads.inc()
        probability, predicted = self._model.predict(batch.features)
        self._rows_scored.inc(len(batch))
        self._batches.inc()
        n = len(batch)
        yield pa.Table.from_arrays(
            [
                pa.array(batch.ids, type=pa.string()),
                pa.array(probability.astype(np.float64)),
                pa.array(predicted),
                pa.repeat(pa.scalar(self._model.model_version, pa.string()), n),
            ],
            schema=SCORED_SCHEMA,
        )


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
            return tables | "WriteParquet" >> beam.io.WriteToParquetBatched(
                self._prefix, schema=SCORED_SCHEMA, file_name_suffix=suffix
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
