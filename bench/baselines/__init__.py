"""Baseline chat servers the reference server is measured against."""
