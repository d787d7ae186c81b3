"""Measure the scoring throughput and peak memory of ``wdbc-score``.

Usage::

    python benchmarks/score_throughput.py [--rows 4000000] [--shards 8] \\
        [--work_dir benchmark-work] [--model_dir MODEL] [--big_csv_mb 1100]

Generates WDBC-like rows by resampling the bundled UCI file with small
multiplicative noise and writes them as Parquet and CSV shards under
``--work_dir``, where reruns find and reuse them. Unless ``--model_dir`` is
given, ``wdbc-train`` exports a model there too. The script then times these
cases, each in a subprocess of its own under ``benchmarks/peak_rss.py``:

- ``plain-parquet``, ``plain-csv``: a single-process pyarrow and TensorFlow
  loop without Beam (``benchmarks/cases.py plain``);
- ``beam-parquet``, ``beam-csv``: ``wdbc-score`` on the default local runner;
- ``beam-parquet-mp2``, ``beam-csv-mp2``: the same with
  ``--direct_num_workers 2 --direct_running_mode multi_processing``;
- ``runinference``: Beam's ``RunInference`` with one element per row
  (``benchmarks/cases.py runinference``), on ``--runinference_rows`` only,
  because it is slow per row;
- ``sweep-N``: ``beam-parquet`` at each ``--batch_sizes`` value;
- ``memory``: ``beam-parquet`` on twice ``--rows`` rows, for peak memory;
- ``big-csv``: ``beam-csv`` on one CSV file of ``--big_csv_mb`` MB or more.

Every case except the sweep, ``memory`` and ``big-csv`` runs at ``--rows / 4``
and at ``--rows`` rows. The marginal rate is the slope between the two runs,
(rows_large - rows_small) / (seconds_large - seconds_small), so start-up
costs such as importing TensorFlow and loading the model cancel out.

With ``--repeats N`` the script makes N passes over the cases. Within a pass,
the plain, ``beam`` and ``beam-mp2`` runs of one format and row count follow
each other, so a change in the load of a shared machine is more likely to
shift both sides of a ratio alike. Rates come from the least times per case
and row count. The marginal ratios are also computed within each pass, and
their median is printed after the ratios of least times.

Writes ``results.json`` in ``--work_dir`` and prints a table.
"""

import argparse
import dataclasses
import glob
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from wdbc import schema

BENCHMARKS_DIR = pathlib.Path(__file__).resolve().parent
REPO_ROOT = BENCHMARKS_DIR.parent
UCI_DATA = REPO_ROOT / "data" / "wdbc.data"
FORMATS = ("parquet", "csv")
ALL_CASES = ("plain", "beam", "beam-mp2", "runinference", "sweep", "memory", "big-csv")

# Rows per generated chunk, which is also the Parquet row group size: memory
# per reader then depends on this, not on the shard size.
CHUNK_ROWS = 131_072
# Standard deviation of the log of the multiplicative noise (about 2 %).
NOISE_SIGMA = 0.02
# Generated ids count up from here, so they look like the UCI ids.
FIRST_ID = 100_000_000
GENERATOR_VERSION = 1

_DATA_SCHEMA = pa.schema(
    [(schema.ID_COLUMN, pa.string()), (schema.LABEL_COLUMN, pa.string())]
    + [(name, pa.float64()) for name in schema.FEATURE_NAMES]
)


# --------------------------------------------------------------------------
# Data generation


def load_uci() -> tuple[np.ndarray, np.ndarray]:
    """Return the bundled rows' features ``[569, 30]`` and labels."""
    table = pa_csv.read_csv(
        UCI_DATA,
        read_options=pa_csv.ReadOptions(column_names=list(schema.UCI_COLUMNS)),
        convert_options=pa_csv.ConvertOptions(
            column_types={schema.ID_COLUMN: pa.string()}
        ),
    )
    features = np.column_stack(
        [table.column(name).to_numpy() for name in schema.FEATURE_NAMES]
    ).astype(np.float64)
    labels = table.column(schema.LABEL_COLUMN).to_numpy(zero_copy_only=False)
    return features, labels


def synthetic_chunk(
    rng: np.random.Generator,
    base_features: np.ndarray,
    base_labels: np.ndarray,
    first_row: int,
    n: int,
) -> pa.Table:
    """Resample ``n`` UCI rows, scale each value by ~N(1, 2 %) and round it."""
    picks = rng.integers(0, len(base_features), n)
    noise = rng.lognormal(0.0, NOISE_SIGMA, size=(n, base_features.shape[1]))
    # Four decimals keep the CSV text close to the UCI file's width.
    features = np.round(base_features[picks] * noise, 4)
    ids = pc.cast(
        pa.array(np.arange(FIRST_ID + first_row, FIRST_ID + first_row + n)),
        pa.string(),
    )
    labels = pa.array(base_labels[picks], type=pa.string())
    columns = [ids, labels] + [pa.array(features[:, j]) for j in range(30)]
    return pa.Table.from_arrays(columns, schema=_DATA_SCHEMA)


def _shard_rows(rows: int, shards: int) -> list[int]:
    return [len(part) for part in np.array_split(np.arange(rows), shards)]


def generate_shards(folder: pathlib.Path, rows: int, shards: int, seed: int) -> dict:
    """Write ``rows`` rows as ``shards`` Parquet and CSV files, unless cached.

    Returns ``{"parquet": glob, "csv": glob}``. A folder whose marker file
    records the same parameters is reused as it is.
    """
    marker = folder / "_COMPLETE.json"
    params = {
        "rows": rows,
        "shards": shards,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
    }
    globs = {fmt: str(folder / fmt / f"*.{fmt}") for fmt in FORMATS}
    if marker.exists() and json.loads(marker.read_text()) == params:
        return globs
    if folder.exists():
        shutil.rmtree(folder)
    for fmt in FORMATS:
        (folder / fmt).mkdir(parents=True)
    base_features, base_labels = load_uci()
    first_row = 0
    for index, shard_rows in enumerate(_shard_rows(rows, shards)):
        rng = np.random.default_rng([seed, index])
        name = f"wdbc-{index:05d}-of-{shards:05d}"
        with (
            pq.ParquetWriter(
                folder / "parquet" / f"{name}.parquet", _DATA_SCHEMA
            ) as pw,
            pa_csv.CSVWriter(folder / "csv" / f"{name}.csv", _DATA_SCHEMA) as cw,
        ):
            for start in range(0, shard_rows, CHUNK_ROWS):
                n = min(CHUNK_ROWS, shard_rows - start)
                chunk = synthetic_chunk(
                    rng, base_features, base_labels, first_row + start, n
                )
                pw.write_table(chunk, row_group_size=CHUNK_ROWS)
                cw.write_table(chunk)
        first_row += shard_rows
    marker.write_text(json.dumps(params))
    return globs


def generate_big_csv(path: pathlib.Path, min_bytes: int, seed: int) -> int:
    """Append chunks to one CSV file until it has ``min_bytes``; return rows.

    Each chunk is written and dropped, so generation holds one chunk at a time.
    """
    marker = path.with_suffix(".json")
    params = {"min_bytes": min_bytes, "seed": seed, "version": GENERATOR_VERSION}
    if marker.exists():
        cached = json.loads(marker.read_text())
        if cached.get("params") == params and path.exists():
            return cached["rows"]
    path.parent.mkdir(parents=True, exist_ok=True)
    base_features, base_labels = load_uci()
    rng = np.random.default_rng([seed, 1_000_000])
    rows = 0
    with pa_csv.CSVWriter(path, _DATA_SCHEMA) as writer:
        while path.stat().st_size < min_bytes:
            chunk = synthetic_chunk(rng, base_features, base_labels, rows, CHUNK_ROWS)
            writer.write_table(chunk)
            rows += CHUNK_ROWS
    marker.write_text(json.dumps({"params": params, "rows": rows}))
    return rows


def doubled_parquet(folder: pathlib.Path, source_glob: str) -> str:
    """Hard-link every Parquet shard of ``source_glob`` twice into ``folder``.

    Returns the glob of the links: twice the rows at no generation cost.
    ``wdbc-score`` reads a file that two symbolic links resolve to only once,
    so the links are hard links, or copies where the folder is on another
    file system.
    """
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted(glob.glob(source_glob))
    for copy in range(2):
        for source in sources:
            link = folder / f"copy{copy}-{pathlib.Path(source).name}"
            if link.is_symlink():
                link.unlink()
            elif link.exists():
                if os.path.samefile(link, source):
                    continue
                # A copy, or a link to shards that were regenerated since.
                link.unlink()
            try:
                os.link(source, link)
            except OSError:
                shutil.copyfile(source, link)
    return str(folder / "*.parquet")


# --------------------------------------------------------------------------
# Measurement


@dataclasses.dataclass
class Measurement:
    case: str
    rows: int
    wall_seconds: float
    max_rss_kib: int
    peak_tree_rss_kib: int
    cpu_seconds: float
    command: list[str]
    # Number of the pass over the cases that made this run, from 0.
    repeat: int = 0


def measure(case: str, rows: int, command: list[str], work_dir: pathlib.Path):
    """Run ``command`` under ``peak_rss.py`` and return its Measurement.

    Raises:
      RuntimeError: the command failed or scored a different number of rows.
    """
    logs = work_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{case}-{rows}.log"
    result_path = logs / f"{case}-{rows}.json"
    wrapper = [sys.executable, str(BENCHMARKS_DIR / "peak_rss.py"), str(result_path)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    print(f"  {case} on {rows:,} rows ...", end=" ", flush=True)
    with open(log_path, "w", encoding="utf-8") as log:
        subprocess.run(
            [*wrapper, "--", *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            check=True,
        )
    result = json.loads(result_path.read_text())
    if result["returncode"] != 0:
        raise RuntimeError(f"{case} on {rows} rows failed; see {log_path}")
    print(
        f"{result['wall_seconds']:.1f} s, CPU {result['cpu_seconds']:.1f} s, "
        f"peak RSS {result['max_rss_kib'] / 1024:.0f} MiB",
        flush=True,
    )
    return Measurement(
        case=case,
        rows=rows,
        wall_seconds=result["wall_seconds"],
        max_rss_kib=result["max_rss_kib"],
        peak_tree_rss_kib=result["peak_tree_rss_kib"],
        cpu_seconds=result["cpu_seconds"],
        command=command,
    )


def count_scored_rows(output_dir: pathlib.Path) -> int:
    return sum(
        pq.ParquetFile(path).metadata.num_rows
        for path in output_dir.glob("scored-*.parquet")
    )


class Runner:
    """Build each case's command, run it once and check the scored row count.

    ``repeat`` is the number of the current pass over the cases; runs after
    the first are labelled with it.
    """

    def __init__(self, work_dir: pathlib.Path, version_dir: str):
        self.work_dir = work_dir
        self.version_dir = version_dir
        self.repeat = 0
        self.measurements: list[Measurement] = []

    def _run(self, case: str, rows: int, command: list[str], output_dir):
        if output_dir.exists():
            shutil.rmtree(output_dir)
        label = case if self.repeat == 0 else f"{case}-repeat{self.repeat}"
        measurement = measure(label, rows, command, self.work_dir)
        measurement.case = case
        measurement.repeat = self.repeat
        scored = count_scored_rows(output_dir)
        shutil.rmtree(output_dir, ignore_errors=True)
        if scored != rows:
            raise RuntimeError(f"{case} scored {scored} of {rows} rows")
        self.measurements.append(measurement)

    def plain(self, fmt: str, pattern: str, rows: int, batch_size: int):
        output_dir = self.work_dir / "out" / f"plain-{fmt}"
        command = [
            sys.executable,
            str(BENCHMARKS_DIR / "cases.py"),
            "plain",
            "--format",
            fmt,
            "--input",
            pattern,
            "--version_dir",
            self.version_dir,
            "--output_dir",
            str(output_dir),
            "--batch_size",
            str(batch_size),
        ]
        self._run(f"plain-{fmt}", rows, command, output_dir)

    def beam(self, case: str, pattern: str, rows: int, batch_size: int, extra=()):
        output_dir = self.work_dir / "out" / case
        command = [
            sys.executable,
            "-m",
            "pipeline",
            "--input",
            pattern,
            "--model_dir",
            self.version_dir,
            "--output_dir",
            str(output_dir),
            "--batch_size",
            str(batch_size),
            *extra,
        ]
        self._run(case, rows, command, output_dir)

    def runinference(self, pattern: str, rows: int):
        output_dir = self.work_dir / "out" / "runinference"
        command = [
            sys.executable,
            str(BENCHMARKS_DIR / "cases.py"),
            "runinference",
            "--input",
            pattern,
            "--version_dir",
            self.version_dir,
            "--output_dir",
            str(output_dir),
        ]
        self._run("runinference", rows, command, output_dir)


MULTI_PROCESS = (
    "--direct_num_workers",
    "2",
    "--direct_running_mode",
    "multi_processing",
)


def marginal_rate(small: Measurement, large: Measurement, cpu=False) -> float | None:
    """Rows per second between two runs of one case on different row counts.

    With ``cpu`` the seconds are CPU seconds of the process tree, not wall.
    Returns None when the large run took no longer than the small one: the
    noise then outweighed the extra rows, so there is no rate to report.
    """
    if cpu:
        seconds = large.cpu_seconds - small.cpu_seconds
    else:
        seconds = large.wall_seconds - small.wall_seconds
    if seconds <= 0:
        return None
    return (large.rows - small.rows) / seconds


def summarize(measurements: list[Measurement]) -> dict:
    """Compute marginal rates, ratios and memory figures from the runs."""
    by_case: dict[str, list[Measurement]] = {}
    for m in measurements:
        by_case.setdefault(m.case, []).append(m)
    rates = {}
    cpu_rates = {}
    for case, runs in by_case.items():
        sizes = sorted({m.rows for m in runs})
        if len(sizes) >= 2:
            small = [m for m in runs if m.rows == sizes[0]]
            large = [m for m in runs if m.rows == sizes[-1]]
            rates[case] = marginal_rate(min(small, key=_wall), min(large, key=_wall))
            cpu_rates[case] = marginal_rate(
                min(small, key=_cpu), min(large, key=_cpu), cpu=True
            )

    def ratio(a: str, b: str, table=rates):
        """Return ``table[a] / table[b]``, or None unless both are finite."""
        if table.get(a) is None or table.get(b) is None:
            return None
        return table[a] / table[b]

    def largest(case: str):
        """Return the fastest run of ``case`` on its largest row count."""
        runs = by_case.get(case, [])
        if not runs:
            return None
        most_rows = max(m.rows for m in runs)
        return min((m for m in runs if m.rows == most_rows), key=_wall)

    def wall_ratio(a: str, b: str):
        ma, mb = largest(a), largest(b)
        if ma and mb and ma.rows == mb.rows:
            return ma.wall_seconds / mb.wall_seconds
        return None

    ratios = {}
    for fmt in FORMATS:
        for beam_case in (f"beam-{fmt}", f"beam-{fmt}-mp2"):
            ratios[f"{beam_case}/plain-{fmt} marginal"] = ratio(
                beam_case, f"plain-{fmt}"
            )
            ratios[f"{beam_case}/plain-{fmt} marginal CPU"] = ratio(
                beam_case, f"plain-{fmt}", cpu_rates
            )
            ratios[f"{beam_case}/plain-{fmt} wall"] = wall_ratio(
                beam_case, f"plain-{fmt}"
            )
            ratios[f"{beam_case}/runinference marginal"] = ratio(
                beam_case, "runinference"
            )
    # Within a pass the runs of both cases follow each other, so a change in
    # load shifts both alike. The median over passes then discounts one lucky
    # run, which the ratio of least times takes at face value.
    per_pass = {}
    for fmt in FORMATS:
        for beam_case in (f"beam-{fmt}", f"beam-{fmt}-mp2"):
            values = pass_ratios(by_case, beam_case, f"plain-{fmt}")
            if values:
                per_pass[f"{beam_case}/plain-{fmt} marginal"] = values
    for key, values in per_pass.items():
        ratios[f"{key}, median of passes"] = statistics.median(values)
    memory = {}
    small_parquet = by_case.get("beam-parquet", [])
    if small_parquet and "memory" in by_case:
        small = min(small_parquet, key=lambda m: m.rows)
        large = by_case["memory"][0]
        memory["memory/beam-parquet rows"] = f"{large.rows} / {small.rows}"
        memory["memory/beam-parquet max_rss"] = large.max_rss_kib / small.max_rss_kib
        memory["memory/beam-parquet tree_rss"] = (
            large.peak_tree_rss_kib / small.peak_tree_rss_kib
        )
    return {
        "marginal_rows_per_second": rates,
        "marginal_rows_per_cpu_second": cpu_rates,
        "ratios": {k: v for k, v in ratios.items() if v is not None},
        "marginal_ratio_per_pass": per_pass,
        "memory": memory,
    }


def pass_ratios(by_case: dict, case: str, baseline: str) -> list[float]:
    """Return, per pass, the marginal wall rate of ``case`` over ``baseline``.

    A pass counts only if both cases ran on both row counts in it and both
    have a rate, which needs the large run to be slower than the small one.
    """
    ratios = []
    passes = sorted({m.repeat for m in by_case.get(case, [])})
    for repeat in passes:
        rates = []
        for name in (case, baseline):
            runs = [m for m in by_case.get(name, []) if m.repeat == repeat]
            sizes = sorted({m.rows for m in runs})
            if len(sizes) < 2:
                break
            small = next(m for m in runs if m.rows == sizes[0])
            large = next(m for m in runs if m.rows == sizes[-1])
            rates.append(marginal_rate(small, large))
        if len(rates) == 2 and None not in rates:
            ratios.append(rates[0] / rates[1])
    return ratios


def _wall(m: Measurement) -> float:
    return m.wall_seconds


def _cpu(m: Measurement) -> float:
    return m.cpu_seconds


def print_table(measurements: list[Measurement], summary: dict) -> None:
    print()
    header = f"{'case':<22}{'rows':>11}{'wall s':>9}{'rows/s':>11}"
    header += f"{'CPU s':>8}{'max RSS MiB':>13}{'tree RSS MiB':>14}"
    print(header)
    for m in measurements:
        print(
            f"{m.case:<22}{m.rows:>11,}{m.wall_seconds:>9.1f}"
            f"{m.rows / m.wall_seconds:>11,.0f}{m.cpu_seconds:>8.1f}"
            f"{m.max_rss_kib / 1024:>13.0f}{m.peak_tree_rss_kib / 1024:>14.0f}"
        )
    print()
    print("Marginal rates (rows per second; '-': the large run was not slower):")
    print(f"  {'case':<22}{'wall':>12}{'CPU':>12}")
    cpu_rates = summary["marginal_rows_per_cpu_second"]
    for case, rate in summary["marginal_rows_per_second"].items():
        print(f"  {case:<22}{_rate_text(rate):>12}{_rate_text(cpu_rates[case]):>12}")
    print("Ratios (wall: the whole-process times on the larger row count):")
    for name, value in summary["ratios"].items():
        print(f"  {name:<58}{value:>8.3f}")
    for name, value in summary["memory"].items():
        shown = value if isinstance(value, str) else f"{value:.3f}"
        print(f"  {name:<58}{shown:>8}")
    print("Marginal wall-rate ratios, pass by pass (passes without a rate left out):")
    for name, values in summary["marginal_ratio_per_pass"].items():
        print(f"  {name:<44}" + " ".join(f"{v:.3f}" for v in values))


def _rate_text(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:,.0f}"


# --------------------------------------------------------------------------
# Command line


def _positive_ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid list {text!r}; expected comma-separated whole numbers"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"invalid list {text!r}; expected >= 1 each")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="score_throughput.py",
        description="Time wdbc-score against a plain loop and RunInference.",
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=4_000_000,
        help="Rows of the large run; the small run has a quarter (default: "
        "%(default)s).",
    )
    parser.add_argument(
        "--shards", type=int, default=8, help="Files per format (default: 8)."
    )
    parser.add_argument(
        "--work_dir",
        default="benchmark-work",
        help="Folder for generated data, the model, logs and results.json "
        "(default: %(default)s).",
    )
    parser.add_argument(
        "--model_dir",
        help="Export to score with; by default wdbc-train writes one into "
        "WORK_DIR/training.",
    )
    parser.add_argument(
        "--batch_size",
        type=int,
        default=8192,
        help="Rows per model call in every case but the sweep (default: 8192).",
    )
    parser.add_argument(
        "--batch_sizes",
        type=_positive_ints,
        default=[1024, 4096, 8192, 32768],
        help="Batch sizes of the Parquet sweep (default: 1024,4096,8192,32768).",
    )
    parser.add_argument(
        "--runinference_rows",
        type=_positive_ints,
        default=[100_000, 400_000],
        help="Row counts of the RunInference runs (default: 100000,400000).",
    )
    parser.add_argument(
        "--big_csv_mb",
        type=int,
        default=0,
        help="Also score one CSV file of at least this many MB (10**6 bytes); "
        "0 skips the case (default: 0).",
    )
    parser.add_argument(
        "--cases",
        default=",".join(ALL_CASES),
        help=f"Comma-separated subset of {','.join(ALL_CASES)} (default: all; "
        "big-csv also needs --big_csv_mb).",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="Passes over all cases; per case and row count the run with "
        "the least wall time gives the wall rate and the one with the least "
        "CPU time the CPU rate (default: 1).",
    )
    parser.add_argument("--seed", type=int, default=7, help="Generator seed.")
    return parser


def prepare_model(work_dir: pathlib.Path, model_dir: str | None) -> str:
    """Return the version folder to score with, training one if needed."""
    from pipeline.model import resolve_export

    if model_dir is None:
        training_dir = work_dir / "training"
        model_dir = str(training_dir / "model")
        if not glob.glob(os.path.join(model_dir, "*", schema.METADATA_RELPATH)):
            print(f"Training a model into {training_dir} ...", flush=True)
            subprocess.run(
                [sys.executable, "-m", "train", "--output_dir", str(training_dir)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
    version_dir, _ = resolve_export(model_dir)
    return version_dir


def machine_info() -> dict:
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024**2, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = sorted(set(cases) - set(ALL_CASES))
    if unknown:
        parser.error(f"--cases: unknown {unknown}; choose from {list(ALL_CASES)}")
    if args.rows < 4 * args.shards:
        parser.error(f"--rows must be at least 4 * --shards, got {args.rows}")

    work_dir = pathlib.Path(args.work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    small_rows = args.rows // 4
    print(f"Generating or reusing data in {work_dir / 'data'} ...", flush=True)
    data = work_dir / "data"
    small = generate_shards(
        data / f"rows-{small_rows}-shards-{args.shards}",
        small_rows,
        args.shards,
        args.seed,
    )
    large = generate_shards(
        data / f"rows-{args.rows}-shards-{args.shards}",
        args.rows,
        args.shards,
        args.seed,
    )
    version_dir = prepare_model(work_dir, args.model_dir)
    runner = Runner(work_dir, version_dir)
    sizes = ((small_rows, small), (args.rows, large))
    batch = args.batch_size
    runinference = []
    if "runinference" in cases:
        for rows in args.runinference_rows:
            globs = generate_shards(
                data / f"rows-{rows}-shards-{args.shards}", rows, args.shards, args.seed
            )
            runinference.append((rows, globs))
    if "memory" in cases:
        doubled = doubled_parquet(data / f"doubled-{args.rows}", large["parquet"])
    big_csv = None
    if "big-csv" in cases and args.big_csv_mb > 0:
        big_csv = data / f"big-{args.big_csv_mb}mb" / "big.csv"
        big_rows = generate_big_csv(big_csv, args.big_csv_mb * 10**6, args.seed)
        print(f"  big CSV: {big_csv.stat().st_size / 1e6:,.0f} MB, {big_rows:,} rows")

    print("Running cases:", flush=True)
    # Each pass runs every case once, and the cases compared in a ratio run
    # next to each other, so a change in the load of a shared machine is more
    # likely to affect both sides of a ratio alike.
    for repeat in range(args.repeats):
        runner.repeat = repeat
        for rows, globs in sizes:
            for fmt in FORMATS:
                if "plain" in cases:
                    runner.plain(fmt, globs[fmt], rows, batch)
                if "beam" in cases:
                    runner.beam(f"beam-{fmt}", globs[fmt], rows, batch)
                if "beam-mp2" in cases:
                    runner.beam(
                        f"beam-{fmt}-mp2", globs[fmt], rows, batch, MULTI_PROCESS
                    )
        for rows, globs in runinference:
            runner.runinference(globs["parquet"], rows)
        if "sweep" in cases:
            for size in args.batch_sizes:
                runner.beam(f"sweep-{size}", large["parquet"], args.rows, size)
        if "memory" in cases:
            runner.beam("memory", doubled, 2 * args.rows, batch)
        if big_csv is not None:
            runner.beam("big-csv", str(big_csv), big_rows, batch)

    summary = summarize(runner.measurements)
    print_table(runner.measurements, summary)
    results = {
        "machine": machine_info(),
        "arguments": vars(args),
        "version_dir": version_dir,
        "total_seconds": time.perf_counter() - started,
        "measurements": [dataclasses.asdict(m) for m in runner.measurements],
        **summary,
    }
    results_path = work_dir / "results.json"
    results_path.write_text(json.dumps(results, indent=2, allow_nan=False))
    print(f"\nWrote {results_path} after {results['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
