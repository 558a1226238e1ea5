"""na64reco: columnar reconstruction, simulation and analysis for the NA64-e experiment."""

__version__ = "0.1.0"

__all__ = ["__version__"]
