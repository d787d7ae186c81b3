"""The throughput benchmark's data generator and summary, on small inputs."""

import glob
import json
import pathlib

import numpy as np
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from benchmarks import score_throughput
from pipeline import readers, run
from wdbc import schema


def test_generated_shards_match_in_both_formats(tmp_path):
    globs = score_throughput.generate_shards(tmp_path / "data", 2000, 3, seed=1)

    parquet_paths = sorted(glob.glob(globs["parquet"]))
    csv_paths = sorted(glob.glob(globs["csv"]))
    assert len(parquet_paths) == 3
    assert len(csv_paths) == 3
    from_parquet = [pq.read_table(p) for p in parquet_paths]
    from_csv = [
        pa_csv.read_csv(
            p, convert_options=pa_csv.ConvertOptions(column_types={"id": "string"})
        )
        for p in csv_paths
    ]
    assert [t.num_rows for t in from_parquet] == [667, 667, 666]
    assert [t.num_rows for t in from_csv] == [667, 667, 666]
    assert from_parquet[0].column_names == list(schema.UCI_COLUMNS)
    assert from_csv[0].column_names == list(schema.UCI_COLUMNS)
    ids = [i for t in from_parquet for i in t.column("id").to_pylist()]
    assert len(set(ids)) == 2000
    assert ids == [i for t in from_csv for i in t.column("id").to_pylist()]
    for name in schema.FEATURE_NAMES:
        np.testing.assert_allclose(
            from_csv[1].column(name).to_numpy(),
            from_parquet[1].column(name).to_numpy(),
        )


def test_generated_rows_resemble_uci_rows(tmp_path):
    globs = score_throughput.generate_shards(tmp_path / "data", 2000, 1, seed=1)
    base_features, _ = score_throughput.load_uci()

    batches = list(readers.read_shard(glob.glob(globs["parquet"])[0], 4096))

    assert len(batches) == 1
    assert isinstance(batches[0], readers.FeatureBatch)
    features = batches[0].features
    assert features.shape == (2000, schema.NUM_FEATURES)
    # Every generated value lies within 15 % (more than 7 sigma of the
    # noise) of a value the UCI file has for that column.
    low = base_features.min(axis=0) * 0.85
    high = base_features.max(axis=0) * 1.15
    assert (features >= low).all()
    assert (features <= high).all()
    assert set(np.unique(batches[0].labels)) == {0, 1}


def test_generated_shards_are_reused(tmp_path):
    folder = tmp_path / "data"
    globs = score_throughput.generate_shards(folder, 200, 2, seed=1)
    first = {p: (folder / p).stat().st_mtime_ns for p in glob.glob(globs["csv"])}

    score_throughput.generate_shards(folder, 200, 2, seed=1)
    again = {p: (folder / p).stat().st_mtime_ns for p in glob.glob(globs["csv"])}
    score_throughput.generate_shards(folder, 300, 2, seed=1)
    resized = sorted(glob.glob(globs["parquet"]))

    assert again == first
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in resized) == 300


def _measurement(
    rows: int, wall: float, cpu: float, case: str = "beam-parquet", repeat: int = 0
) -> score_throughput.Measurement:
    return score_throughput.Measurement(
        case=case,
        rows=rows,
        wall_seconds=wall,
        max_rss_kib=1,
        peak_tree_rss_kib=1,
        cpu_seconds=cpu,
        command=[],
        repeat=repeat,
    )


def test_summary_picks_fastest_run_per_metric():
    # The run with the least wall time is not the one with the least CPU.
    runs = [
        _measurement(1_000, wall=2.0, cpu=5.0),
        _measurement(1_000, wall=3.0, cpu=4.0),
        _measurement(4_000, wall=5.0, cpu=8.0),
        _measurement(4_000, wall=6.0, cpu=6.5),
    ]

    summary = score_throughput.summarize(runs)

    assert summary["marginal_rows_per_second"]["beam-parquet"] == 1_000
    assert summary["marginal_rows_per_cpu_second"]["beam-parquet"] == 1_200


def test_summary_gives_median_of_pass_ratios():
    # (small wall, large wall) per pass: beam's rates are 1000, 1000 and 500
    # rows/s, the plain loop's 1000, 500 and 1000, so the ratios are 1, 2, 0.5.
    walls = {
        "beam-parquet": [(1.0, 4.0), (1.0, 4.0), (1.0, 7.0)],
        "plain-parquet": [(1.0, 4.0), (1.0, 7.0), (1.0, 4.0)],
    }
    runs = [
        _measurement(rows, wall, wall, case=case, repeat=repeat)
        for case, passes in walls.items()
        for repeat, pair in enumerate(passes)
        for rows, wall in zip((1_000, 4_000), pair)
    ]

    summary = score_throughput.summarize(runs)

    per_pass = summary["marginal_ratio_per_pass"]["beam-parquet/plain-parquet marginal"]
    assert per_pass == [1.0, 2.0, 0.5]
    ratios = summary["ratios"]
    assert ratios["beam-parquet/plain-parquet marginal, median of passes"] == 1.0
    # The least times give 3000 rows in 3 s for both cases.
    assert ratios["beam-parquet/plain-parquet marginal"] == 1.0


def test_doubled_shards_are_all_scored(tmp_path):
    globs = score_throughput.generate_shards(tmp_path / "data", 300, 2, seed=1)

    doubled = score_throughput.doubled_parquet(tmp_path / "doubled", globs["parquet"])

    paths = sorted(glob.glob(doubled))
    assert len(paths) == 4
    # wdbc-score drops paths that resolve to one file, so none may be a link.
    assert run.match_inputs((doubled,)) == paths
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
    assert rows == 600


def test_doubled_shards_follow_regenerated_data(tmp_path):
    data = tmp_path / "data"
    first = score_throughput.generate_shards(data, 300, 2, seed=1)
    score_throughput.doubled_parquet(tmp_path / "doubled", first["parquet"])
    # Another seed rewrites the same data folder, as a rerun with --seed does,
    # and the memory case doubles it into the same folder again.
    second = score_throughput.generate_shards(data, 300, 2, seed=2)

    score_throughput.doubled_parquet(tmp_path / "doubled", second["parquet"])

    for source in sorted(glob.glob(second["parquet"])):
        name = pathlib.Path(source).name
        expected = pq.read_table(source)
        for copy in ("copy0", "copy1"):
            doubled = pq.read_table(tmp_path / "doubled" / f"{copy}-{name}")
            assert doubled.equals(expected), f"{copy}-{name} contains the seed 1 rows"


def test_summary_skips_rate_of_faster_run():
    runs = [
        _measurement(1_000, wall=8.0, cpu=5.0, case="beam-csv-mp2"),
        _measurement(4_000, wall=7.0, cpu=8.0, case="beam-csv-mp2"),
        _measurement(1_000, wall=1.0, cpu=1.0, case="plain-csv"),
        _measurement(4_000, wall=4.0, cpu=4.0, case="plain-csv"),
    ]

    summary = score_throughput.summarize(runs)

    assert summary["marginal_rows_per_second"]["beam-csv-mp2"] is None
    assert summary["marginal_rows_per_cpu_second"]["beam-csv-mp2"] == 1_000
    assert "beam-csv-mp2/plain-csv marginal" not in summary["ratios"]
    assert summary["ratios"]["beam-csv-mp2/plain-csv marginal CPU"] == 1.0
    assert summary["marginal_ratio_per_pass"] == {}
    # results.json must stay strict JSON.
    assert "null" in json.dumps(summary, allow_nan=False)
