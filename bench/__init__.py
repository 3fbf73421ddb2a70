"""chatbench benchmarks: baselines, the measuring driver and `bench/run.py` (docs/benchmarks.md)."""
