"""Declarative cut sets per analysis and run period, validated on load.

Added by the selections issue.
"""
