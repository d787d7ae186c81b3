"""Build the scoring graph on a pipeline without running it."""

import apache_beam as beam

from pipeline import drift, report, transforms
from pipeline.model import resolve_export
from pipeline.options import ScoringConfig
from wdbc import statistics


def build_pipeline(
    pipeline: beam.Pipeline, config: ScoringConfig, files: list[str], version_dir: str
) -> dict:
    """Add the scoring steps to ``pipeline`` and return its main collections.

    ``files`` are the shard paths matched at launch and ``version_dir`` is the
    export folder resolved from ``config.model_dir``.
    """
    shard_paths = (
        pipeline
        | "ListShards" >> beam.Create(sorted(files))
        | "SpreadShards" >> beam.Reshuffle()
    )
    read = shard_paths | "ReadShards" >> beam.ParDo(
        transforms.ReadShardsFn(config.batch_size)
    ).with_outputs(transforms.REJECTED_TAG, main="batches")
    feature_batches = read.batches
    rejected_rows = read[transforms.REJECTED_TAG]
    scored = feature_batches | "ScoreBatches" >> beam.ParDo(
        drift.ScoreAndProfileFn(version_dir)
    ).with_outputs(drift.PROFILE_TAG, main="tables")
    scored_tables = scored.tables
    scored_files = scored_tables | "WriteScored" >> transforms.WriteScored(
        config.output_dir, config.output_format
    )
    rejected_files = rejected_rows | "WriteRejected" >> transforms.WriteRejected(
        config.output_dir
    )
    _, metadata = resolve_export(version_dir)
    drift_record = scored[drift.PROFILE_TAG] | "SummarizeDrift" >> (
        drift.SummarizeDrift(metadata[statistics.METADATA_KEY], config.max_psi)
    )
    report_file = (
        pipeline
        | "StartSummary" >> beam.Create([None])
        | "WriteSummary"
        >> beam.ParDo(
            report.WriteRunSummaryFn(config.output_dir, metadata),
            drift=beam.pvalue.AsSingleton(drift_record),
            scored_files=beam.pvalue.AsList(scored_files),
            rejected_files=beam.pvalue.AsList(rejected_files),
        )
    )
    return {
        "feature_batches": feature_batches,
        "rejected_rows": rejected_rows,
        "scored_tables": scored_tables,
        "scored_files": scored_files,
        "rejected_files": rejected_files,
        "drift": drift_record,
        "report_file": report_file,
    }
