"""The name stored with every vector, worked out without loading the model (no torch): commands
that only read a collection (``check``, ``stats``) need it too, and must start at once."""

from __future__ import annotations

from indexer.config import ModelConfig
from indexer.model.folder import file_sha256, read_folder


def model_identity(config: ModelConfig) -> str:
    """The name stored with every vector: it changes whenever the weights change."""
    if config.path is not None:
        return read_folder(config.path, verify_hashes=False).identity
    if config.checkpoint is not None:
        return f"{config.arch}@sha256:{file_sha256(config.checkpoint)[:16]}"
    return f"{config.arch}/{config.pretrained or 'random-init'}"
