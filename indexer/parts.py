"""The parts the service's helpers share: the model pipeline, the store and the indexes."""

from __future__ import annotations

from dataclasses import dataclass

from indexer.embed.pipeline import EmbeddingPipeline
from indexer.store import Store
from indexer.vectors.backend import VectorBackend


@dataclass(frozen=True)
class Parts:
    """One process's model pipeline, SQLite store and vector indexes (pictures, texts, and
    every frame of the clips)."""

    pipeline: EmbeddingPipeline
    store: Store
    pictures: VectorBackend
    texts: VectorBackend
    frames: VectorBackend

    @property
    def indexes(self) -> tuple[VectorBackend, VectorBackend, VectorBackend]:
        """Every vector index, so what is done to all of them (load, rebuild, save, close) is
        written once and a new kind of index is never left out."""
        return (self.pictures, self.texts, self.frames)

    @property
    def model_id(self) -> str:
        """The identity of the model whose vectors are written and searched."""
        return self.pipeline.embedder.identity
