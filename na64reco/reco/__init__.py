"""Reconstruction: pure columnar functions from raw arrays and constants to physics quantities."""
