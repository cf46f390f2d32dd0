"""Fine-tuning straight from a collection's tagged pictures, as a group would teach its words."""

from __future__ import annotations

import asyncio
import json
import statistics
from pathlib import Path

import pytest
from local_names import group_pairs, name_precision

from indexer.cli import main
from indexer.cli.index_folder import file_source, index_directory
from indexer.config import ModelConfig, load_indexer_config
from indexer.model.embedder import Embedder
from indexer.service import IndexService
from indexer.synthetic import ShapeSpec
from indexer.training.tiny_model import TINY_MODEL_NAME, card_path

CAREFUL = ["--epochs", "20", "--batch-size", "16", "--lr", "3e-4", "--lock-image"]


async def build_tagged_collection(config_path: Path, folder: Path) -> None:
    """Indexes the group's pictures from files and tags each with its caption."""
    folder.mkdir()
    captions = {}
    for number, (image, caption) in enumerate(group_pairs(per_name=16, everyday=56, seed=11)):
        path = folder / f"{number:03d}.jpg"
        image.save(path, quality=95)
        captions[path] = caption
    async with await IndexService.open(load_indexer_config(config_path)) as service:
        assert await index_directory(service, folder, "group") == 0
        for path, caption in captions.items():
            await service.tag(
                "group", await service.ids_of_source("group", file_source(path)), caption
            )


def test_finetune_from_a_collections_tags_teaches_its_names(
    tmp_path: Path, tiny_checkpoint: Path, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[model]\narch = "{TINY_MODEL_NAME}"\ncheckpoint = "{tiny_checkpoint}"\n'
        '[storage]\ndata_dir = "data"\n[ocr]\nenabled = false\n'
    )
    asyncio.run(build_tagged_collection(config, tmp_path / "pictures"))
    out = tmp_path / "group.pt"
    args = ["--config", str(config), "finetune", "--collection", "group", "--out", str(out)]

    assert main([*args, *CAREFUL, "--held-out", "0.2"]) == 0

    card = json.loads(card_path(out).read_text())
    assert card["data"]["collection"] == "group" and card["data"]["pairs"] == 88
    tuned = Embedder.load(ModelConfig(arch=TINY_MODEL_NAME, checkpoint=out))
    assert statistics.mean(name_precision(tuned, held_out_pictures).values()) >= 0.8


def test_an_unknown_collection_is_a_one_line_error(
    tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[model]\narch = "{TINY_MODEL_NAME}"\ncheckpoint = "{tiny_checkpoint}"\n')
    args = [
        "--config",
        str(config),
        "finetune",
        "--collection",
        "nope",
        "--out",
        str(tmp_path / "x.pt"),
    ]
    assert main(args) == 2
    assert "error: " in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
