"""Build the scoring graph on a pipeline without running it."""

import apache_beam as beam

from pipeline import transforms
from pipeline.options import ScoringConfig


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
    scored_tables = feature_batches | "ScoreBatches" >> beam.ParDo(
        transforms.ScoreBatchesFn(version_dir)
    )
    scored_files = scored_tables | "WriteScored" >> transforms.WriteScored(
        config.output_dir, config.output_format
    )
    rejected_files = rejected_rows | "WriteRejected" >> transforms.WriteRejected(
        config.output_dir
    )
    return {
        "feature_batches": feature_batches,
        "rejected_rows": rejected_rows,
        "scored_tables": scored_tables,
        "scored_files": scored_files,
        "rejected_files": rejected_files,
    }
