"""Shipped samples: small simulated physics, calibration and signal runs with their manifests."""
