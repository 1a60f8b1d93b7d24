"""Benchmarks: ``python -m bench [NAME ...]`` (``make bench``). See bench/README.md."""
