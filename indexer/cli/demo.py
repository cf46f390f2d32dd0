"""``python -m indexer demo``: the whole indexer, offline, on pictures it draws itself.

It needs no network: it draws a set of synthetic shape pictures, uses (or trains) the tiny
model, indexes the pictures and runs a few English and Chinese queries. It leaves behind a
config file that points at the tiny model, so every other command, and the bot, can run
offline against it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from indexer.cli.index_folder import index_directory
from indexer.cli.output import print_hits
from indexer.config import load_indexer_config
from indexer.invocation import command_name
from indexer.service import IndexService
from indexer.synthetic import ALL_SPECS, write_image_folder
from indexer.training.tiny_model import TINY_MODEL_NAME, card_path, ensure_tiny_model

DEMO_COLLECTION = "demo"
DEMO_PICTURES = 300
DEMO_SEED = 20_261_126
#: (query, the slug of the pictures it should find): two English, two Chinese.
DEMO_QUERIES = [
    (spec.caption_en if i % 2 == 0 else spec.caption_zh, spec.slug)
    for i, spec in enumerate(ALL_SPECS[i] for i in (0, 7, 13, 26))
]


def write_demo_config(directory: Path, checkpoint: Path) -> Path:
    """A config file that runs every command offline against the tiny model."""
    path = directory / "config.toml"
    path.write_text(
        "# Written by `clip-search demo` (or the playground): offline, on the tiny model.\n"
        "[model]\n"
        f'arch = "{TINY_MODEL_NAME}"\n'
        f'checkpoint = "{checkpoint.name}"\n'
        "\n[storage]\n"
        'data_dir = "data"\n'
        "\n[search]\n"
        "# The tiny model maps every text near one of its 30 shapes: match tags by words only.\n"
        "text_match_min = 1.01\n",
        encoding="utf-8",
    )
    return path


def _print_training_step(step: int, loss: float) -> None:
    if step % 100 == 0:
        print(f"  training the tiny model: step {step}, loss {loss:.3f}", flush=True)


def write_offline_config(directory: Path) -> Path:
    """Copies the tiny model into ``directory`` and writes a config that runs offline on it.

    Training happens only when the committed checkpoint is stale (see ``ensure_tiny_model``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    checkpoint = directory / "tiny-clip.pt"
    if not checkpoint.exists():
        source = ensure_tiny_model(directory / "model-cache", progress=_print_training_step)
        shutil.copyfile(source, checkpoint)
        shutil.copyfile(card_path(source), card_path(checkpoint))
    return write_demo_config(directory, checkpoint)


async def run_demo(directory: Path) -> int:
    """Builds the demo in ``directory`` and prints queries with their top results."""
    directory.mkdir(parents=True, exist_ok=True)
    pictures = directory / "pictures"
    if not pictures.exists():
        print(f"drawing {DEMO_PICTURES} synthetic pictures into {pictures}")
        write_image_folder(pictures, DEMO_PICTURES, DEMO_SEED)
    config_path = write_offline_config(directory)
    config = load_indexer_config(config_path)
    async with await IndexService.open(config) as service:
        await index_directory(service, pictures, DEMO_COLLECTION)
        for query, slug in DEMO_QUERIES:
            hits = await service.search_text([DEMO_COLLECTION], query, k=5)
            right = sum(Path(hit.image.source).name.startswith(slug) for hit in hits)
            print(f"\n{query!r}: {right} of the top {len(hits)} are {slug.replace('_', ' ')}s")
            print_hits(hits)
    print(
        f"\nThe demo's config is {config_path}; try:\n"
        f"  {command_name('indexer')} --config {config_path} search 'a purple star' "
        f"--collection {DEMO_COLLECTION}"
    )
    return 0
