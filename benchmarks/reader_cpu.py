"""Measure the CPU time that ``pipeline.readers`` spends per row, without Beam.

Usage::

    python benchmarks/reader_cpu.py 'benchmark-work/data/rows-4000000-shards-8/*/*'
        [--batch_size 8192] [--passes 3]

Reads every matched shard with ``readers.read_shard`` ``--passes`` times and
prints the process CPU seconds of each pass and the rows per CPU second of
the fastest. CPU time, unlike wall time, changes little when other processes
share the machine, so it compares two versions of the readers well.
"""

import argparse
import glob
import sys
import time

from pipeline import readers


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="CPU time of pipeline.readers.")
    parser.add_argument("pattern", help="Glob of CSV or Parquet shards.")
    parser.add_argument("--batch_size", type=int, default=8192, help="Rows/batch.")
    parser.add_argument("--passes", type=int, default=3, help="Reads of all files.")
    args = parser.parse_args(argv)
    paths = sorted(glob.glob(args.pattern))
    if not paths:
        parser.error(f"{args.pattern} matches no file")
    best = float("inf")
    for number in range(1, args.passes + 1):
        start = time.process_time()
        rows = 0
        for path in paths:
            for item in readers.read_shard(path, args.batch_size):
                rows += len(item) if isinstance(item, readers.FeatureBatch) else 0
        seconds = time.process_time() - start
        best = min(best, seconds)
        print(f"pass {number}: {rows:,} rows in {seconds:.2f} CPU s")
    print(f"fastest: {rows / best:,.0f} rows per CPU second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
