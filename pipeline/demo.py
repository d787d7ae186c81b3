"""Run the whole job on the bundled data: train, export, shard, score.

Usage::

    wdbc-demo [--output_dir wdbc-demo-output] [--shards 4]

Writes, under the output folder:

- ``training/``: the export (``model/<version>/``), ``metrics.json`` and plots;
- ``shards/csv/`` and ``shards/parquet/``: the data split into shards;
- ``scored-csv/`` and ``scored-parquet/``: the scored shards of each format.
"""

import argparse
import json
import logging
import pathlib
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import run as score
from pipeline import transforms
from train import cli as train_cli
from wdbc import dataset

_LOGGER = logging.getLogger(__name__)

_FORMATS = ("csv", "parquet")


def _write_shards(frame, shards_dir: pathlib.Path, num_shards: int) -> None:
    """Split ``frame`` into ``num_shards`` CSV files and as many Parquet files."""
    parts = np.array_split(np.arange(len(frame)), num_shards)
    for fmt in _FORMATS:
        (shards_dir / fmt).mkdir(parents=True, exist_ok=True)
    for i, rows in enumerate(parts):
        part = frame.iloc[rows]
        name = f"wdbc-{i:05d}-of-{num_shards:05d}"
        part.to_csv(shards_dir / "csv" / f"{name}.csv", index=False)
        table = pa.Table.from_pandas(part, preserve_index=False)
        pq.write_table(table, shards_dir / "parquet" / f"{name}.parquet")


def _read_summary(scored_dir: pathlib.Path) -> dict:
    """Return the ``summary.json`` that a scoring run wrote in ``scored_dir``."""
    return json.loads((scored_dir / transforms.SUMMARY_NAME).read_text())


def main(argv=None) -> int:
    """Run the demo and return the exit status."""
    parser = argparse.ArgumentParser(
        prog="wdbc-demo",
        description="Train on the bundled WDBC data, then score it as shards.",
    )
    parser.add_argument(
        "--output_dir",
        default="wdbc-demo-output",
        help="Folder for every output of the demo (default: %(default)s).",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=4,
        help="Number of CSV shards and of Parquet shards (default: %(default)s).",
    )
    args = parser.parse_args(argv)
    if args.shards < 1:
        parser.error(f"--shards must be at least 1, got {args.shards}")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    out = pathlib.Path(args.output_dir).resolve()
    training_dir = out / "training"
    status = train_cli.main(["--output_dir", str(training_dir)])
    if status != 0:
        return status

    frame = dataset.load_labeled(dataset.DEFAULT_DATA_PATH)
    shards_dir = out / "shards"
    _write_shards(frame, shards_dir, args.shards)

    counts = {}
    for fmt in _FORMATS:
        scored_dir = out / f"scored-{fmt}"
        score.run(
            [
                "--input",
                str(shards_dir / fmt / f"*.{fmt}"),
                "--model_dir",
                str(training_dir / "model"),
                "--output_dir",
                str(scored_dir),
            ]
        )
        counts[fmt] = _read_summary(scored_dir)

    metrics = json.loads((training_dir / "metrics.json").read_text())
    print()
    print(f"Rows in the bundled data: {len(frame)}")
    print(f"Training outputs:         {training_dir}")
    print(
        f"Test accuracy {metrics['test_accuracy']:.4f}, "
        f"test log loss {metrics['test_log_loss']:.4f} "
        f"({training_dir / 'metrics.json'})"
    )
    print(f"Shards:                   {shards_dir}")
    for fmt in _FORMATS:
        summary = counts[fmt]
        print(
            f"Scored from {fmt:<8}      {out / f'scored-{fmt}'}: "
            f"{summary['rows_read']} read, {summary['rows_scored']} scored, "
            f"{summary['rows_rejected']} rejected"
        )
    complete = all(s["rows_scored"] == len(frame) for s in counts.values())
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
