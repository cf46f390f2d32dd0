"""Vectors of two models never mix: a model change is detected, and reindex fixes it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from indexer.cli.index_folder import index_directory
from indexer.config import IndexerConfig, ModelConfig
from indexer.errors import ModelLoadError, ReindexInProgressError
from indexer.model.embedder import Embedder
from indexer.model.identity import model_identity
from indexer.service import IndexService, ReindexProgress
from indexer.synthetic import ShapeSpec
from tests.conftest import make_config


def test_identity_names_the_checkpoint_by_content(
    tmp_path: Path, model_config: ModelConfig
) -> None:
    assert model_config.checkpoint is not None
    copy = tmp_path / "copy.pt"
    copy.write_bytes(model_config.checkpoint.read_bytes())
    same = model_config.model_copy(update={"checkpoint": copy})
    assert model_identity(same) == model_identity(model_config)
    copy.write_bytes(copy.read_bytes() + b"\0")
    assert model_identity(same) != model_identity(model_config)
    assert model_identity(ModelConfig(arch="ViT-B-32", pretrained="laion2b_s34b_b79k")) == (
        "ViT-B-32/laion2b_s34b_b79k"
    )


def test_missing_checkpoint_and_unknown_architecture_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"model\.checkpoint does not exist"):
        Embedder.load(ModelConfig(arch="ViT-B-32", checkpoint=tmp_path / "none.pt"))
    with pytest.raises(ModelLoadError, match="unknown model architecture 'ViT-Q-99'"):
        Embedder.load(ModelConfig(arch="ViT-Q-99"))


async def test_model_change_is_reported_and_reindex_fixes_it(
    tmp_path: Path,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for number, (data, spec) in enumerate(held_out_pictures[:60]):
        (pictures / f"{spec.slug}_{number}.jpg").write_bytes(data)
    config = make_config(tmp_path / "data", model_config)
    async with await IndexService.open(config, embedder) as service:
        await index_directory(service, pictures, "album")

    other_model = ModelConfig(arch=model_config.arch, pretrained=None)
    other_config = IndexerConfig.model_validate({**config.model_dump(), "model": other_model})
    with caplog.at_level(logging.WARNING, logger="indexer"):
        async with await IndexService.open(other_config) as service:
            assert "60 pictures were embedded by another model" in caplog.text
            before = await service.stats("album")
            assert (before.needs_reindex, before.index_vectors) == (60, 0)
            assert await service.search_text(["album"], "a red circle") == []

            reports: list[ReindexProgress] = []

            async def record(progress: ReindexProgress) -> None:
                reports.append(progress)
                if len(reports) == 1:
                    with pytest.raises(ReindexInProgressError):
                        await service.reindex("album")

            result = await service.reindex("album", record)
            assert (result.done, result.total, result.failed) == (60, 60, 0)
            assert reports[-1].done == 60 and len(reports) >= 2
            after = await service.stats("album")
            assert (after.needs_reindex, after.index_vectors) == (0, 60)
            assert len(await service.search_text(["album"], "a red circle", k=5)) == 5


async def test_a_command_about_one_collection_warns_only_about_that_one(
    tmp_path: Path,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The 'embedded by another model' warning named every collection on every command."""
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for number, (data, spec) in enumerate(held_out_pictures[:4]):
        (pictures / f"{spec.slug}_{number}.jpg").write_bytes(data)
    config = make_config(tmp_path / "data", model_config)
    async with await IndexService.open(config, embedder) as service:
        await index_directory(service, pictures, "first")
        await index_directory(service, pictures, "second")
    other_model = ModelConfig(arch=model_config.arch, pretrained=None)
    other_config = IndexerConfig.model_validate({**config.model_dump(), "model": other_model})
    other = Embedder.load(other_model)

    with caplog.at_level(logging.WARNING, logger="indexer"):
        async with await IndexService.open(other_config, other, warn_about={"second"}):
            pass

    warned = [r.getMessage() for r in caplog.records if "another model" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith("collection second:")
