"""Lineage: one item per object version of a successful run, pointing at the partitions it wrote."""
