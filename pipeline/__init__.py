"""Batch scoring of WDBC shards with an exported model on Apache Beam."""
