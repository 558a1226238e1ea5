"""Limit module: signal yields, g-2 contributions and model registry (physics core), statistics,
mass scans and plots.

Physics core: ``yields`` (n_X per EOT), ``g2`` (Delta a_e / Delta a_mu and the favoured bands),
``models`` (the MODELS registry).
"""
