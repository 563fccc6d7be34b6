"""Where a model comes from: the bundled default, a local directory, or a Hugging Face hub repository.

``resolve_model(name)`` turns what a user passes to ``GPT.from_pretrained`` into a local directory:

- nothing: the bundled default model (``python/gptcore/models/<DEFAULT_MODEL>``, shipped in the package);
- an existing directory: itself;
- a bundled model's name: its directory in the package;
- anything shaped like a hub id (``gpt2``, ``org/name``): a snapshot in the huggingface_hub cache, downloaded
  with only the files gptcore reads (config, weights in one format, tokenizer). Offline (``HF_HUB_OFFLINE=1`` or
  no network) the cache alone is used, and a model that is not cached is a :class:`ModelNotFoundError` that says
  how to get it.
"""

from __future__ import annotations

import os
import re
from typing import List, Optional, Union

MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
DEFAULT_MODEL = "kjv-small"

# What gptcore reads from a repository; everything else (TF, Flax, ONNX, ...) is never downloaded.
_CONFIG_FILES = ["config.json", "generation_config.json", "vocab.json", "merges.txt", "tokenizer.json",
                 "encoder.json", "vocab.bpe"]
_SAFETENSORS = ["model.safetensors", "model.safetensors.index.json", "model-*.safetensors"]
_TORCH_BIN = ["pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*.bin"]
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


class ModelNotFoundError(FileNotFoundError):
    """The model is neither a local directory, a bundled model, nor available from the hub or its cache."""


def bundled_models() -> List[str]:
    """Names of the models shipped inside the package."""
    if not os.path.isdir(MODELS_DIR):
        return []
    return sorted(d for d in os.listdir(MODELS_DIR) if os.path.isfile(os.path.join(MODELS_DIR, d, "config.json")))


def resolve_model(name: Union[None, str, "os.PathLike[str]"] = None, *, revision: Optional[str] = None,
                  cache_dir: Optional[str] = None) -> str:
    """The local directory holding the model `name` (see the module docstring for the lookup order)."""
    if name is None:
        path = os.path.join(MODELS_DIR, DEFAULT_MODEL)
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise ModelNotFoundError(f"the bundled default model is missing from this installation ({path}); "
                                     "reinstall gptcore, or pass a model directory or hub name")
        return path
    text = os.fspath(name)
    if os.path.isdir(text):
        return text
    if text in bundled_models():
        return os.path.join(MODELS_DIR, text)
    looks_local = text.startswith((".", "~", os.sep)) or text.count("/") > 1 or not _HUB_ID.match(text)
    if looks_local:
        raise FileNotFoundError(f"{text}: not a directory (and not a hub name like 'gpt2' or 'org/name')")
    return _hub_snapshot(text, revision=revision, cache_dir=cache_dir)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "on", "yes", "true")


def _hub_snapshot(repo_id: str, *, revision: Optional[str], cache_dir: Optional[str]) -> str:
    try:
        import huggingface_hub
        from huggingface_hub.utils import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError
    except ImportError:  # pragma: no cover - a runtime dependency; only a broken install lacks it
        raise ModelNotFoundError(f"'{repo_id}' is not a local directory, and huggingface_hub (needed to fetch hub "
                                 "models) is not installed: pip install huggingface_hub") from None
    where = f"'{repo_id}'" + (f" (revision {revision})" if revision else "")
    reason = "HF_HUB_OFFLINE is set"
    if not _offline():
        try:
            files = [s.rfilename for s in huggingface_hub.HfApi().model_info(repo_id, revision=revision).siblings
                     or []]
            weights = _SAFETENSORS if any(f.endswith(".safetensors") for f in files) else _TORCH_BIN
            return str(huggingface_hub.snapshot_download(repo_id, revision=revision, cache_dir=cache_dir,
                                                         allow_patterns=_CONFIG_FILES + weights))
        except (RepositoryNotFoundError, GatedRepoError, RevisionNotFoundError) as e:
            raise ModelNotFoundError(f"{where}: not found on the Hugging Face hub, or not accessible "
                                     f"({type(e).__name__}); check the name, or log in for gated models") from None
        except Exception as e:  # no network, proxy, timeout: fall back to what is cached
            reason = f"the hub could not be reached ({type(e).__name__})"
    try:
        return str(huggingface_hub.snapshot_download(repo_id, revision=revision, cache_dir=cache_dir,
                                                     local_files_only=True))
    except Exception:
        cache = cache_dir or huggingface_hub.constants.HF_HUB_CACHE
        raise ModelNotFoundError(
            f"{where} is not a local directory and is not in the Hugging Face cache ({cache}), and {reason}. "
            f"Download it once with network access (GPT.from_pretrained('{repo_id}') or "
            f"`hf download {repo_id}`), or pass the path of a local model directory.") from None
