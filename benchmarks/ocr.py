"""Words inside pictures: how fast they are read, what reading costs ingest, and recall.

Run from the repository root::

    .venv/bin/python -m benchmarks.ocr                     # 240 pictures, half with words
    .venv/bin/python -m benchmarks.ocr --pictures 120 --speed-sample 20

It draws a set of pictures (indexer/ocr/samples.py): signs, memes, notes and screenshots in
English and Chinese, 640×480 to 1080×1920, turned by up to ±3°, on photo-like backgrounds,
saved as JPEG; as many again without words (photo-like backgrounds only). Every picture with
words carries a word of its own to search by: an English word or a number ("#20931"), a code
("RE16 TGK", searched by "RE16"), or a 2–4 character part of a Chinese name ("东方广场" by
"东方", "方广场", …). Then:

1. **reading speed**: pictures/s of the recogniser alone (its own process, one thread), on
   pictures with words and on pictures without;
2. **ingest with the stage on vs off**: pictures/s until every picture of the set is embedded
   (searchable by its look), reading on and off, alternating runs after a warm-up run, in one
   process; each run first embeds 10 pictures with words, so that with reading on the
   recogniser is busy reading one when the set arrives (the case where the two compete);
3. **recall@1 / @5**: every picture is indexed and read, then searched by its word; a hit is
   the picture in the top 1 / top 5.

The model is the shipped tiny demo model (no network here), with ``text_match_min = 1.01`` as
the demo sets it, so words match through the word index alone; its picture ranking knows only
coloured shapes, so recall here is the recogniser's and the word index's.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from indexer.cli.demo import write_offline_config
from indexer.config import IndexerConfig, load_indexer_config
from indexer.ocr.recogniser import Recogniser
from indexer.ocr.samples import STYLES, cjk_font, lettered_picture, photo_background
from indexer.records import ImageFacts, PictureFilter
from indexer.service import Embedder, IndexService

SIZES = [(640, 480), (800, 600), (1024, 768), (720, 1280), (1080, 1920)]
ENGLISH = [
    "coffee",
    "bakery",
    "exit",
    "parking",
    "pharmacy",
    "menu",
    "noodles",
    "open",
    "closed",
    "sale",
    "password",
    "invoice",
    "receipt",
    "station",
    "platform",
    "ticket",
    "hotel",
    "museum",
    "library",
    "garden",
    "market",
    "bridge",
    "street",
    "pizza",
    "burger",
    "salad",
    "juice",
    "lemon",
    "mango",
    "welcome",
    "warning",
    "danger",
    "delivery",
    "order",
    "account",
    "balance",
    "meeting",
    "dentist",
    "taxi",
    "airport",
    "harbour",
    "cinema",
    "theatre",
    "bakery",
    "kitchen",
    "dessert",
    "breakfast",
    "dinner",
    "lunch",
    "special",
    "discount",
    "member",
    "wallet",
    "battery",
    "charger",
    "laptop",
    "printer",
]
PREFIXES = [
    "东方",
    "南京",
    "黄河",
    "长江",
    "西湖",
    "天山",
    "北海",
    "云南",
    "上海",
    "广州",
    "深圳",
    "杭州",
    "成都",
    "重庆",
    "武汉",
    "西安",
    "苏州",
    "青岛",
    "大连",
    "厦门",
    "昆明",
    "桂林",
    "拉萨",
    "兰州",
    "合肥",
    "南昌",
    "福州",
    "贵阳",
    "太原",
    "沈阳",
    "长春",
    "济南",
    "郑州",
    "石家",
    "海口",
    "银川",
    "西宁",
    "呼和",
    "乌鲁",
    "三亚",
]
SUFFIXES = [
    "广场",
    "酒店",
    "饭店",
    "书店",
    "银行",
    "医院",
    "车站",
    "公园",
    "超市",
    "面馆",
    "茶馆",
    "药房",
]
EXTRA_ZH = ["欢迎光临", "营业时间", "小心地滑", "禁止吸烟", "今日特价", "会员折扣"]


@dataclass(frozen=True)
class Lettered:
    name: str
    lines: list[str]
    query: str
    language: str  # "en" or "zh"


def draw_set(folder: Path, count: int, seed: int) -> list[Lettered]:
    """``count`` pictures, half with words (each with its own query), half without."""
    rng = random.Random(seed)
    chinese = cjk_font() is not None
    names = [p + s for p in PREFIXES for s in SUFFIXES]
    rng.shuffle(names)
    english = list(dict.fromkeys(ENGLISH))
    rng.shuffle(english)
    queried: list[str] = english[: len(english) // 2]  # each searched for on one picture only
    fillers = english[len(english) // 2 :]
    lettered: list[Lettered] = []
    for number in range(count // 2):
        zh = chinese and number % 2 == 1
        kind = rng.randrange(3) if queried else rng.randrange(2)
        if zh:
            name = names.pop()
            length = rng.choice((2, 3, 4))
            start = 0 if length == 2 else rng.randrange(0, 5 - length)
            lines = [name, rng.choice(EXTRA_ZH)]
            query = name[start : start + length]
        elif kind == 0:
            number_text = str(rng.randrange(10_000, 999_999))
            total = f"Total {rng.randrange(2, 99)}.50"
            lines = [f"{rng.choice(fillers).title()} #{number_text}", total]
            query = number_text
        elif kind == 1:
            letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
            code = "".join(rng.choices(letters, k=2)) + str(rng.randrange(10, 99))
            lines = [f"{code} {''.join(rng.choices(letters, k=3))}"]
            query = code
        else:
            word = queried.pop()
            lines = [f"{word.upper()} {rng.randrange(1, 40)}", rng.choice(fillers).title()]
            query = word
        image = lettered_picture(
            lines,
            rng.choice(STYLES),
            rng.choice(SIZES),
            seed=rng.randrange(2**31),
            rotation=rng.uniform(-3, 3),
        )
        item = Lettered(f"words_{number:04d}.jpg", lines, query, "zh" if zh else "en")
        _save(image, folder / item.name)
        lettered.append(item)
    for number in range(count - count // 2):
        image = photo_background(rng.choice(SIZES), rng)
        _save(image, folder / f"plain_{number:04d}.jpg")
    return lettered


def _save(image: object, path: Path) -> None:
    image.save(path, "JPEG", quality=85)  # type: ignore[attr-defined]


async def reading_speed(config: IndexerConfig, files: list[Path]) -> float:
    """Pictures/s of the recogniser alone over ``files`` (after one warm-up picture)."""
    recogniser = Recogniser(config.ocr, config.limits)
    try:
        await recogniser.read(files[0].read_bytes())
        started = time.perf_counter()
        for path in files:
            await recogniser.read(path.read_bytes())
        return len(files) / (time.perf_counter() - started)
    finally:
        await recogniser.close()


async def ingest_rate(
    config: IndexerConfig, embedder: Embedder, files: list[Path], backlog: list[Path]
) -> float:
    """Pictures/s from handing ``files`` over until every one is embedded (searchable by look),
    while the pictures of ``backlog`` (embedded first) wait to be read: with reading on, the
    recogniser is busy with one of them when the new pictures arrive."""
    async with await IndexService.open(config, embedder) as service:
        for path in backlog:
            await service.add_image("backlog", ImageFacts(source=f"file:{path}"))
        while (await service.stats("backlog")).pending:
            await asyncio.sleep(0.02)
        await asyncio.sleep(1.0)
        started = time.perf_counter()
        for path in files:
            await service.add_image("bench", ImageFacts(source=f"file:{path}"))
        while (await service.stats("bench")).pending:
            await asyncio.sleep(0.02)
        return len(files) / (time.perf_counter() - started)


async def recall(
    config: IndexerConfig, embedder: Embedder, folder: Path, lettered: list[Lettered]
) -> dict[str, tuple[float, float, int]]:
    """language → (recall@1, recall@5, queries) after indexing and reading every picture."""
    found: dict[str, list[tuple[bool, bool]]] = {}
    missed: list[str] = []
    async with await IndexService.open(config, embedder) as service:
        for path in sorted(folder.glob("*.jpg")):
            await service.add_image("recall", ImageFacts(source=f"file:{path}"))
        await service.wait_idle()
        for item in lettered:
            hits = await service.search_text(["recall"], item.query, k=5)
            names = [Path(hit.image.source).name for hit in hits]
            found.setdefault(item.language, []).append(
                (names[:1] == [item.name], item.name in names)
            )
            if item.name not in names:
                words = await service.list_pictures("recall", PictureFilter(contains=item.name))
                read = words[0].words if words else None
                shown = [(name, hit.matched_text) for name, hit in zip(names, hits, strict=True)]
                missed.append(f"{item.query!r} on {item.lines} read as {read!r}; top: {shown}")
    for line in missed:
        print("  missed:", line)
    return {
        language: (
            sum(top1 for top1, _ in results) / len(results),
            sum(top5 for _, top5 in results) / len(results),
            len(results),
        )
        for language, results in found.items()
    }


def _load(config_path: Path, *, reading: bool, data: Path) -> IndexerConfig:
    config = load_indexer_config(config_path)
    return config.model_copy(
        update={
            "ocr": config.ocr.model_copy(update={"enabled": reading}),
            "storage": config.storage.model_copy(update={"data_dir": data}),
        }
    )


async def main(arguments: argparse.Namespace) -> None:
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        pictures = root / "pictures"
        pictures.mkdir()
        lettered = draw_set(pictures, arguments.pictures, arguments.seed)
        if cjk_font() is None:
            print("no CJK font installed: the set has no Chinese pictures")
        config_path = write_offline_config(root / "demo")
        base = _load(config_path, reading=True, data=root / "unused")
        embedder = Embedder.load(base.model)
        with_words = sorted(pictures.glob("words_*.jpg"))[: arguments.speed_sample]
        without = sorted(pictures.glob("plain_*.jpg"))[: arguments.speed_sample]
        print(f"reading, with words: {await reading_speed(base, with_words):.2f} pictures/s")
        print(f"reading, without words: {await reading_speed(base, without):.2f} pictures/s")
        files = sorted(pictures.glob("*.jpg"))
        rates: dict[bool, list[float]] = {True: [], False: []}
        backlog = with_words[:10]
        warm = _load(config_path, reading=False, data=root / "warm")
        await ingest_rate(warm, embedder, files, backlog)
        for run in range(2 * arguments.rounds):
            reading = run % 2 == 1
            config = _load(config_path, reading=reading, data=root / f"ingest{run}")
            rates[reading].append(await ingest_rate(config, embedder, files, backlog))
        on, off = statistics.median(rates[True]), statistics.median(rates[False])
        print(
            f"ingest (embedding {len(files)} pictures): reading off {off:.1f} pictures/s, "
            f"on {on:.1f} pictures/s, on/off {on / off:.2f} (runs: off "
            f"{', '.join(f'{r:.1f}' for r in rates[False])}; on "
            f"{', '.join(f'{r:.1f}' for r in rates[True])})"
        )
        started = time.perf_counter()
        results = await recall(
            _load(config_path, reading=True, data=root / "recall"), embedder, pictures, lettered
        )
        print(f"indexed and read {len(files)} pictures in {time.perf_counter() - started:.0f} s")
        for language, (top1, top5, queries) in sorted(results.items()):
            print(f"recall {language}: @1 {top1:.3f}, @5 {top5:.3f} ({queries} queries)")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pictures", type=int, default=240, help="pictures in the set")
    parser.add_argument("--speed-sample", type=int, default=30, help="pictures per speed run")
    parser.add_argument("--rounds", type=int, default=2, help="ingest runs per setting")
    parser.add_argument("--seed", type=int, default=18)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
