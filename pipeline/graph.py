"""Build the scoring graph on a pipeline without running it."""

import datetime

import apache_beam as beam

from pipeline import drift, report, transforms
from pipeline.model import resolve_export
from pipeline.options import ScoringConfig
from wdbc import statistics


def build_pipeline(
    pipeline: beam.Pipeline,
    config: ScoringConfig,
    files: list[str],
    version_dir: str,
    metadata: dict | None = None,
    started_at: str | None = None,
) -> dict:
    """Add the scoring steps to ``pipeline`` and return its main collections.

    ``files`` are the shard paths matched at launch and ``version_dir`` is the
    export folder resolved from ``config.model_dir``. ``metadata`` is that
    export's metadata, read again from ``version_dir`` when not given, and
    ``started_at`` is the ISO 8601 start time reported in ``summary.json``.
    """
    if metadata is None:
        _, metadata = resolve_export(version_dir)
    if started_at is None:
        started_at = datetime.datetime.now(datetime.timezone.utc).isoformat()
    shard_paths = (
        pipeline
        # Create would reshuffle more than one value by default. SpreadShards
        # is then the only shuffle, the one that spreads shards over workers.
        | "ListShards" >> beam.Create(sorted(files), reshuffle=False)
        | "SpreadShards" >> beam.Reshuffle()
    )
    read = shard_paths | "ReadShards" >> beam.ParDo(
        transforms.ReadShardsFn(config.batch_size)
    ).with_outputs(transforms.REJECTED_TAG, transforms.FILE_COUNTS_TAG, main="batches")
    feature_batches = read.batches
    file_counts = read[transforms.FILE_COUNTS_TAG]
    scored = feature_batches | "ScoreBatches" >> beam.ParDo(
        drift.ScoreAndProfileFn(version_dir)
    ).with_outputs(
        transforms.SCORE_COUNTS_TAG,
        drift.PROFILE_TAG,
        transforms.REJECTED_TAG,
        main="tables",
    )
    scored_tables = scored.tables
    rejected_rows = (
        read[transforms.REJECTED_TAG],
        scored[transforms.REJECTED_TAG],
    ) | "FlattenRejected" >> beam.Flatten()
    score_counts = scored[transforms.SCORE_COUNTS_TAG]
    scored_files = scored_tables | "WriteScored" >> transforms.WriteScored(
        config.output_dir, config.output_format
    )
    rejected_files = rejected_rows | "WriteRejected" >> transforms.WriteRejected(
        config.output_dir
    )
    drift_record = scored[drift.PROFILE_TAG] | "SummarizeDrift" >> (
        drift.SummarizeDrift(
            metadata[statistics.METADATA_KEY], config.max_psi, config.min_drift_rows
        )
    )
    rejected_reasons = rejected_rows | "CountReasons" >> report.CountReasons()
    summary_file = (
        file_counts,
        score_counts,
        scored_files,
        rejected_files,
        drift_record,
        rejected_reasons,
    ) | "WriteSummary" >> transforms.WriteSummary(
        config.output_dir, metadata, started_at, config.max_rejected_share
    )
    return {
        "feature_batches": feature_batches,
        "rejected_rows": rejected_rows,
        "scored_tables": scored_tables,
        "scored_files": scored_files,
        "rejected_files": rejected_files,
        "summary_file": summary_file,
        "drift": drift_record,
    }
