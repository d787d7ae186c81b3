"""Baselines that ``score_throughput.py`` times against ``wdbc-score``.

Usage::

    python benchmarks/cases.py plain --format parquet --input 'shards/*.parquet' \\
        --version_dir model/123 --output_dir out/ [--batch_size 8192]
    python benchmarks/cases.py runinference --input 'shards/*.parquet' \\
        --version_dir model/123 --output_dir out/

``plain`` is a single-process loop with no Beam: pyarrow reads each shard in
batches, the exported signature scores each batch and ``pyarrow.parquet``
writes one scored file per shard. ``runinference`` is a Beam pipeline built
on ``apache_beam.ml.inference.base.RunInference`` with one element per row,
the way a user of Beam's standard inference API would write it.

Each case prints one line, ``rows=N``, with the number of rows it scored.
"""

import argparse
import glob
import json
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from wdbc import schema  # noqa: E402

FEATURES = list(schema.FEATURE_NAMES)
# Same columns and types as the pipeline's scored files.
OUTPUT_SCHEMA = pa.schema(
    [
        (schema.ID_COLUMN, pa.string()),
        (schema.PROBABILITY_KEY, pa.float64()),
        (schema.CLASS_KEY, pa.int64()),
        (schema.MODEL_VERSION_COLUMN, pa.string()),
    ]
)
# Bytes that pyarrow.csv parses per block, as in pipeline/readers.py.
CSV_BLOCK_BYTES = 8 << 20


def _model_version(version_dir: str) -> str:
    path = pathlib.Path(version_dir) / schema.METADATA_RELPATH
    return str(json.loads(path.read_text())["model_version"])


def _csv_batches(path: str, batch_size: int):
    types = {name: pa.float64() for name in FEATURES}
    types[schema.ID_COLUMN] = pa.string()
    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES),
        convert_options=pa_csv.ConvertOptions(
            include_columns=[schema.ID_COLUMN, *FEATURES], column_types=types
        ),
    )
    for block in reader:
        for start in range(0, block.num_rows, batch_size):
            yield block.slice(start, batch_size)


def _parquet_batches(path: str, batch_size: int):
    parquet = pq.ParquetFile(path)
    yield from parquet.iter_batches(
        batch_size=batch_size, columns=[schema.ID_COLUMN, *FEATURES]
    )


def run_plain(args) -> int:
    """Score every shard in one process and return the number of rows."""
    import tensorflow as tf

    serve = tf.saved_model.load(args.version_dir).signatures[schema.SIGNATURE_KEY]
    version = pa.scalar(_model_version(args.version_dir), pa.string())
    batches = _parquet_batches if args.format == "parquet" else _csv_batches
    output_dir = pathlib.Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    rows = 0
    for i, path in enumerate(sorted(glob.glob(args.input))):
        out = output_dir / f"scored-{i:05d}.parquet"
        with pq.ParquetWriter(out, OUTPUT_SCHEMA) as writer:
            for batch in batches(path, args.batch_size):
                x = np.column_stack(
                    [batch.column(name).to_numpy() for name in FEATURES]
                ).astype(np.float32)
                outputs = serve(**{schema.INPUT_KEY: tf.constant(x)})
                probability = outputs[schema.PROBABILITY_KEY].numpy().reshape(-1)
                predicted = outputs[schema.CLASS_KEY].numpy().reshape(-1)
                n = batch.num_rows
                table = pa.Table.from_arrays(
                    [
                        batch.column(schema.ID_COLUMN),
                        pa.array(probability.astype(np.float64)),
                        pa.array(predicted.astype(np.int64)),
                        pa.repeat(version, n),
                    ],
                    schema=OUTPUT_SCHEMA,
                )
                writer.write_table(table)
                rows += n
    return rows


def run_runinference(args) -> int:
    """Score the shards with RunInference and return the number of rows."""
    import apache_beam as beam
    from apache_beam.ml.inference.base import (
        KeyedModelHandler,
        ModelHandler,
        PredictionResult,
        RunInference,
    )
    from apache_beam.options.pipeline_options import PipelineOptions

    class SavedModelHandler(ModelHandler):
        """Load the export with ``tf.saved_model.load`` and call its signature."""

        def __init__(self, version_dir: str):
            super().__init__()
            self._version_dir = version_dir

        def load_model(self):
            import tensorflow as tf

            return tf.saved_model.load(self._version_dir)

        def run_inference(self, batch, model, inference_args=None):
            import tensorflow as tf

            x = tf.constant(np.stack(batch).astype(np.float32))
            serve = model.signatures[schema.SIGNATURE_KEY]
            outputs = serve(**{schema.INPUT_KEY: x})
            probability = outputs[schema.PROBABILITY_KEY].numpy().reshape(-1)
            predicted = outputs[schema.CLASS_KEY].numpy().reshape(-1)
            return [
                PredictionResult(example, (float(p), int(c)))
                for example, p, c in zip(batch, probability, predicted)
            ]

    version = _model_version(args.version_dir)

    def to_example(record: dict):
        features = np.array([record[name] for name in FEATURES], dtype=np.float64)
        return str(record[schema.ID_COLUMN]), features

    def to_output(keyed):
        key, result = keyed
        probability, predicted = result.inference
        return {
            schema.ID_COLUMN: key,
            schema.PROBABILITY_KEY: probability,
            schema.CLASS_KEY: predicted,
            schema.MODEL_VERSION_COLUMN: version,
        }

    options = PipelineOptions(["--runner", "FnApiRunner"])
    with beam.Pipeline(options=options) as p:
        _ = (
            p
            | "Read" >> beam.io.ReadFromParquet(args.input)
            | "ToExamples" >> beam.Map(to_example)
            | "RunInference"
            >> RunInference(KeyedModelHandler(SavedModelHandler(args.version_dir)))
            | "ToOutput" >> beam.Map(to_output)
            | "Write"
            >> beam.io.WriteToParquet(
                os.path.join(args.output_dir, "scored"),
                schema=OUTPUT_SCHEMA,
                file_name_suffix=".parquet",
            )
        )
    return sum(
        pq.ParquetFile(path).metadata.num_rows
        for path in glob.glob(os.path.join(args.output_dir, "scored*.parquet"))
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cases = parser.add_subparsers(dest="case", required=True)
    plain = cases.add_parser("plain", help="Single-process pyarrow and TF loop.")
    plain.add_argument("--format", choices=("parquet", "csv"), required=True)
    plain.add_argument("--batch_size", type=int, default=8192, help="Rows per call.")
    runinference = cases.add_parser(
        "runinference", help="Beam RunInference with one element per row."
    )
    for case in (plain, runinference):
        case.add_argument("--input", required=True, help="Glob of shards to score.")
        case.add_argument("--version_dir", required=True, help="Export folder.")
        case.add_argument("--output_dir", required=True, help="Scored files go here.")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    rows = run_plain(args) if args.case == "plain" else run_runinference(args)
    print(f"rows={rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
