"""Benchmarks: each prints its numbers as ratios against a baseline run in the same process."""
