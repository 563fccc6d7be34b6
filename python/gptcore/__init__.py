"""gptcore: GPT-family language models on the CPU, with a C++ core."""

from __future__ import annotations

from . import _core
from .config import ConfigError
from .hub import ModelNotFoundError, bundled_models
from .generation import Generation, GenerationOptions, Score
from .model import GPT, Inspection
from .tokenizer import Tokenizer, TokenizerError
from .weights import WeightsError

__version__ = "0.1.0"
__all__ = ["GPT", "Tokenizer", "Generation", "GenerationOptions", "Score", "Inspection", "ConfigError",
           "TokenizerError", "WeightsError", "ModelNotFoundError", "bundled_models", "system_info", "__version__"]


def system_info() -> dict:
    """What this build runs on: BLAS, SIMD level, cores."""
    return {
        "blas": _core.blas_name(),
        "blas_config": _core.blas_config(),
        "simd": _core.simd_level(),
        "physical_cores": _core.physical_cores(),
    }
