"""Training: the recipe, the backend runner, and what a run records.

``recipe`` (the settings and their checks, no framework), ``runner`` (Keras's
backend, devices and processes, fit), ``records`` (run directories' contents and
comparison tables) and ``api`` (``train`` and ``compare``). Importing this package
imports no framework; ``train`` and ``compare`` do, after every check has passed.
"""

from __future__ import annotations

from cnndsl.training.api import CompareResult, check_against_data, check_spec, compare, precheck, spec_text, train
from cnndsl.training.recipe import BACKENDS, DISTRIBUTE, OPTIMIZERS, Cluster, Recipe, RecipeError, cluster_settings
from cnndsl.training.runner import CPU_DEVICES_ENV, TrainingInterrupted, TrainResult, fit, one_hot

__all__ = [
    "train", "compare", "Recipe", "RecipeError", "Cluster", "cluster_settings", "TrainResult", "CompareResult",
    "TrainingInterrupted", "fit", "one_hot", "check_spec", "check_against_data", "precheck", "spec_text",
    "OPTIMIZERS", "BACKENDS", "DISTRIBUTE", "CPU_DEVICES_ENV",
]  # fmt: skip
