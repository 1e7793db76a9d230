"""Builds the lineage entries of a run from its manifest and the Glue job's result document."""

from collections.abc import Iterator

from etl_common.lineage import LineageEntry
from etl_common.models import JobResult, ManifestView


def lineage_entries(manifest: ManifestView, result: JobResult) -> Iterator[LineageEntry]:
    if result.run_id != manifest.run_id:
        raise ValueError(f"result of run {result.run_id} does not belong to run {manifest.run_id}")
    rows_by_object = {(item.key, item.version_id): item.rows_written for item in result.objects}
    # The job reports partitions per run, not per object: every input of the run points at all of them.
    outputs = [partition.location for partition in result.partitions]
    for obj in manifest.objects:
        yield LineageEntry(
            object_id=obj.object_id,
            run_id=manifest.run_id,
            dataset=manifest.dataset,
            outputs=outputs,
            rows_written=rows_by_object.get((obj.key, obj.version_id), 0),
        )
