"""Declarative cut sets: loading and validation, evaluation into masks, blinding."""

from na64reco.cutsets.config import CutSet, load_cutset
from na64reco.cutsets.variables import VARIABLES

__all__ = ["VARIABLES", "CutSet", "load_cutset"]
