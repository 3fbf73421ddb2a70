"""Measured experiments behind the proposals in docs/benchmarks.md ("Optimisations")."""
