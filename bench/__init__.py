"""Benchmarks (`make bench`): each figure is measured beside a baseline in the same run."""
