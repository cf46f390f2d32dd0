"""Searching by who, when and what kind: the query's operators, filters applied before ranking,
sort:new, filters alone, and a picture searched together with words."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from indexer.cli import main
from indexer.config import IndexerConfig, ModelConfig
from indexer.errors import UnknownPosterError
from indexer.model.embedder import Embedder
from indexer.records import ImageFacts, ParsedQuery, QueryProblem, SearchFilters
from indexer.search.filters import OPERATORS, parse_query
from indexer.service import IndexService
from indexer.store import DATABASE_FILE
from indexer.synthetic import SHAPES, ShapeSpec
from indexer.vectors.faiss_index import BITMAP_IDS, IndexLayout, VectorIndex
from tests.conftest import make_config

NOW = datetime(2025, 12, 31, tzinfo=UTC).timestamp()
DAY = 86400.0
#: The first picture is posted on 1 May 2025, the next ones a day apart.
FIRST_POST = datetime(2025, 5, 1, 12, tzinfo=UTC).timestamp()
#: (poster id, @username, name) of the group's three posters.
BEN = (1, "ben_k", "Ben Kramer")
ALICE = (2, "alice", "Alice")
XIAOMING = (3, None, "小明")


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


# The query language


def test_english_operators_are_read_and_removed_from_the_words() -> None:
    parsed = parse_query(
        "a red circle from:@ben after:2025-06-01 before:2025-09 kind:video sort:new", NOW
    )
    assert parsed.words == "a red circle"
    assert parsed.problems == ()
    assert parsed.filters == SearchFilters(
        posters=("@ben",),
        after=ts("2025-06-01"),
        before=ts("2025-09-01"),
        kinds=("video", "video_note"),
        newest=True,
    )


def test_chinese_operators_with_full_width_colons() -> None:
    parsed = parse_query(
        "红色的圆形 来自：小明 之后：2025年7月 之前:2025-08-15 类型：动图 排序：最新", NOW
    )
    assert parsed.words == "红色的圆形"
    assert parsed.problems == ()
    assert parsed.filters == SearchFilters(
        posters=("小明",),
        after=ts("2025-07-01"),
        before=ts("2025-08-15"),
        kinds=("gif",),
        newest=True,
    )


def test_chinese_operators_written_right_after_the_words_without_a_space() -> None:
    parsed = parse_query("红色的圆形来自：小明，一只猫之后：2025年7月", NOW)
    assert parsed.words == "红色的圆形 一只猫"
    assert parsed.problems == ()
    assert parsed.filters == SearchFilters(posters=("小明",), after=ts("2025-07-01"))
    # Prose with a colon after words that end in no operator stays words.
    assert parse_query("会议纪要注意：红色", NOW).words == "会议纪要注意：红色"
    assert parse_query("会议纪要注意：红色", NOW).filters == SearchFilters()


def test_dates_that_leave_no_time_between_them_are_a_problem_not_an_empty_result() -> None:
    assert parse_query("a cat after:2025-08 before:2025-07", NOW).problems == (
        QueryProblem("no_dates", "after:2025-08 before:2025-07"),
    )
    assert parse_query("之后：2025-06-02 日期：2025-06-01", NOW).problems == (
        QueryProblem("no_dates", "之后：2025-06-02 日期：2025-06-01"),
    )
    assert parse_query("last:7d before:2020", NOW).problems[0].kind == "no_dates"
    # A day's own span is not empty, nor are dates in order.
    assert parse_query("on:2025-06-01 after:2025-06-01 before:2025-07", NOW).problems == ()


#: A value each operator accepts.
VALUES = {
    "from": "@ben",
    "after": "2025-06",
    "before": "2025-06",
    "on": "2025-06",
    "last": "7d",
    "kind": "gif",
    "sort": "new",
}


@pytest.mark.parametrize("spelling", sorted(OPERATORS))
@pytest.mark.parametrize("colon", [":", "："])
def test_every_spelling_of_every_operator_is_read_with_either_colon(
    spelling: str, colon: str
) -> None:
    parsed = parse_query(f"cat {spelling.upper()}{colon}{VALUES[OPERATORS[spelling]]}", NOW)
    assert parsed.words == "cat"
    assert parsed.problems == ()
    assert parsed.filters.narrows or parsed.filters.newest


def test_on_a_day_a_month_or_a_year_spans_it_and_last_counts_back_from_now() -> None:
    assert parse_query("on:2025-07-14", NOW).filters == SearchFilters(
        after=ts("2025-07-14"), before=ts("2025-07-15")
    )
    assert parse_query("日期:2025/12", NOW).filters == SearchFilters(
        after=ts("2025-12-01"), before=ts("2026-01-01")
    )
    assert parse_query("on:2024", NOW).filters.before == ts("2025-01-01")
    assert parse_query("last:7d", NOW).filters.after == NOW - 7 * DAY
    assert parse_query("last:3m", NOW).filters.after == NOW - 90 * DAY
    assert parse_query("最近：2周", NOW).filters.after == NOW - 14 * DAY
    assert parse_query("最近:12小时", NOW).filters.after == NOW - 12 * 3600


def test_several_posters_and_kinds_mean_any_of_them_and_dates_narrow_together() -> None:
    parsed = parse_query(
        'cat from:@ben from:"Alice Wu" kind:gif kind:sticker after:2025 last:30d', NOW
    )
    assert parsed.words == "cat"
    assert parsed.filters.posters == ("@ben", "Alice Wu")
    assert parsed.filters.kinds == ("gif", "sticker")
    assert parsed.filters.after == NOW - 30 * DAY  # the later of the two starts


def test_bad_dates_unknown_operators_and_empty_values_are_problems_not_words() -> None:
    parsed = parse_query(
        "cat after:yesterdayish colour:red kind:hologram last:soon from: sort:old", NOW
    )
    assert parsed.words == "cat"
    assert parsed.problems == (
        QueryProblem("bad_date", "after:yesterdayish"),
        QueryProblem("unknown_operator", "colour:red"),
        QueryProblem("bad_kind", "kind:hologram"),
        QueryProblem("bad_period", "last:soon"),
        QueryProblem("empty", "from:"),
        QueryProblem("bad_sort", "sort:old"),
    )
    assert parse_query("on:2025-02-30", NOW).problems == (
        QueryProblem("bad_date", "on:2025-02-30"),
    )


def test_links_times_and_chinese_prose_with_colons_stay_words() -> None:
    text = "see https://example.com at 12:30 注意：红色 note: this"
    parsed = parse_query(text, NOW)
    assert parsed.words == text
    assert parsed.problems == ()
    assert not parsed.filters.narrows


# Searching a group with filters (240 held-out pictures; an IVF index, so the selector is
# tried on the layout big groups use)


@pytest.fixture(scope="module")
def group(
    tmp_path_factory: pytest.TempPathFactory,
    model_config: ModelConfig,
    embedder: Embedder,
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> tuple[IndexerConfig, dict[int, ShapeSpec]]:
    """The group's data folder, indexed once: Ben posted every 10th picture, Alice 4 in 10,
    小明 the rest, a day apart from 1 May 2025; some are clips, GIFs and stickers."""
    config = make_config(
        tmp_path_factory.mktemp("filters") / "data", model_config, index={"flat_max": 100}
    )
    posters = [BEN] + [ALICE] * 4 + [XIAOMING] * 5

    async def index() -> dict[int, ShapeSpec]:
        labels = {}
        async with await IndexService.open(config, embedder) as service:
            for number, (data, spec) in enumerate(held_out_pictures):
                poster_id, username, name = posters[number % 10]
                result = await service.add_image(
                    "group",
                    ImageFacts(
                        source=f"upload:{number}",
                        poster_id=poster_id,
                        poster_name=name,
                        poster_username=username,
                        posted_at=FIRST_POST + number * DAY,
                    ),
                    data=data,
                )
                assert result.image_id is not None
                labels[result.image_id] = spec
            await service.wait_idle()
            assert (await service.stats("group")).index_type.startswith("IVF")
        return labels

    labels = asyncio.run(index())
    # Clips are told apart by the clips work (issue 20); until then the test sets their kind.
    with sqlite3.connect(config.storage.data_dir / DATABASE_FILE) as db:
        for kind, remainder in (("video", 5), ("video_note", 7), ("gif", 9), ("sticker", 11)):
            db.execute("UPDATE images SET kind = ? WHERE id % 12 = ?", (kind, remainder))
    return config, labels


@pytest.fixture
async def searcher(
    group: tuple[IndexerConfig, dict[int, ShapeSpec]], embedder: Embedder
) -> AsyncIterator[IndexService]:
    async with await IndexService.open(group[0], embedder, embed=False) as service:
        yield service


def _poster_of(image_id: int) -> int:
    return (BEN, ALICE, ALICE, ALICE, ALICE, *[XIAOMING] * 5)[(image_id - 1) % 10][0]


async def test_a_poster_filter_gives_k_of_their_pictures_best_first(
    searcher: IndexService, group: tuple[IndexerConfig, dict[int, ShapeSpec]]
) -> None:
    labels = group[1]
    bens = [i for i in labels if _poster_of(i) == BEN[0]]
    spec = max({labels[i] for i in bens}, key=lambda spec: sum(labels[i] == spec for i in bens))
    own = {i for i in bens if labels[i] == spec}
    assert 2 <= len(own) < 10
    ranked_then_filtered = [
        hit
        for hit in await searcher.search_text(["group"], spec.caption_en, k=12)
        if hit.image.poster_id == BEN[0]
    ]
    assert len(ranked_then_filtered) < 12
    hits = await searcher.search_text(
        ["group"], spec.caption_en, k=12, filters=SearchFilters(posters=("@Ben_K",))
    )
    assert len(hits) == 12
    assert {hit.image.poster_id for hit in hits} == {BEN[0]}
    assert {hit.image.id for hit in hits[: len(own)]} == own


async def test_posters_are_found_by_name_any_case_or_id_and_several_mean_any(
    searcher: IndexService,
) -> None:
    for name in ("ben kramer", "BEN_K", "1"):
        hits = await searcher.search_text(
            ["group"], "a blue star", k=5, filters=SearchFilters(posters=(name,))
        )
        assert {hit.image.poster_id for hit in hits} == {BEN[0]}, name
    hits = await searcher.search_text(
        ["group"], "a blue star", k=60, filters=SearchFilters(posters=("小明", "@ben_k"))
    )
    assert len(hits) == 60
    assert {hit.image.poster_id for hit in hits} == {BEN[0], XIAOMING[0]}


async def test_a_poster_nobody_knows_is_an_error_not_an_empty_result(
    searcher: IndexService,
) -> None:
    with pytest.raises(UnknownPosterError, match="@nobody"):
        await searcher.search_text(["group"], "a cat", filters=SearchFilters(posters=("@nobody",)))
    with pytest.raises(UnknownPosterError):  # "@" means the username: 小明 has none
        await searcher.search_text(["group"], "a cat", filters=SearchFilters(posters=("@小明",)))


async def test_dates_and_kinds_filter_before_ranking(searcher: IndexService) -> None:
    parsed = searcher.parse_query("a green square after:2025-06-01 before:2025-07 kind:video")
    hits = await searcher.search_text(["group"], parsed.words, k=50, filters=parsed.filters)
    in_june = [
        i
        for i in range(1, 241)
        if ts("2025-06-01") <= FIRST_POST + (i - 1) * DAY < ts("2025-07-01")
    ]
    clips = [i for i in in_june if i % 12 in (5, 7)]
    assert sorted(hit.image.id for hit in hits) == clips
    gifs = await searcher.search_text(
        ["group"], "a green square", k=50, filters=SearchFilters(kinds=("gif",))
    )
    assert sorted(hit.image.id for hit in gifs) == [i for i in range(1, 241) if i % 12 == 9]


async def test_filters_alone_list_the_pictures_newest_first_page_by_page(
    searcher: IndexService,
) -> None:
    filters = searcher.parse_query("from:@ben_k after:2025-10").filters
    first = await searcher.search_text(["group"], "", k=3, filters=filters)
    second = await searcher.search_text(["group"], "", k=3, offset=3, filters=filters)
    listed = [hit.image for hit in first + second]
    assert len(listed) == 6
    assert all(hit.by_date for hit in first + second)
    assert [image.posted_at for image in listed] == sorted(
        (image.posted_at or 0 for image in listed), reverse=True
    )
    assert {image.poster_id for image in listed} == {BEN[0]}
    newest_ben = max(i for i in range(1, 241) if _poster_of(i) == BEN[0])
    assert listed[0].id == newest_ben
    assert len({image.id for image in listed}) == 6


async def test_sort_new_orders_the_good_matches_by_date(
    group: tuple[IndexerConfig, dict[int, ShapeSpec]], embedder: Embedder
) -> None:
    config, labels = group
    few = config.model_copy(update={"search": config.search.model_copy(update={"newest_among": 8})})
    async with await IndexService.open(few, embedder, embed=False) as service:
        by_score = await service.search_text(["group"], "a purple cross", k=8)
        newest = await service.search_text(
            ["group"], "a purple cross", k=8, filters=SearchFilters(newest=True)
        )
    assert {hit.image.id for hit in newest} == {hit.image.id for hit in by_score}
    dates = [hit.image.posted_at for hit in newest]
    assert dates == sorted(dates, reverse=True) != [hit.image.posted_at for hit in by_score]
    assert sum(labels[hit.image.id].slug == "purple_cross" for hit in newest) >= 6


async def test_a_picture_query_keeps_to_the_filters(
    searcher: IndexService, held_out_pictures: list[tuple[bytes, ShapeSpec]]
) -> None:
    hits = await searcher.search_image(
        ["group"], held_out_pictures[0][0], k=10, filters=SearchFilters(posters=("Alice",))
    )
    assert len(hits) == 10
    assert {hit.image.poster_id for hit in hits} == {ALICE[0]}


# A picture and words: "like this one, but …"


async def test_a_red_circle_with_square_ranks_red_squares_above_red_circles_and_blue_squares(
    searcher: IndexService,
    group: tuple[IndexerConfig, dict[int, ShapeSpec]],
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    labels = group[1]
    number = next(n for n, (_, spec) in enumerate(held_out_pictures) if spec.slug == "red_circle")
    query = await searcher.picture_query(held_out_pictures[number][0], "square")
    hits = await searcher.search_image(["group"], query, k=240)
    assert number + 1 not in {hit.image.id for hit in hits}  # the picture itself stays out

    def mean_rank(slug: str) -> float:
        ranks = [rank for rank, hit in enumerate(hits) if labels[hit.image.id].slug == slug]
        return sum(ranks) / len(ranks)

    assert mean_rank("red_square") < min(mean_rank("red_circle"), mean_rank("blue_square"))


async def test_a_picture_with_words_beats_the_picture_alone_and_the_words_alone(
    searcher: IndexService,
    group: tuple[IndexerConfig, dict[int, ShapeSpec]],
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    """Precision@5 of "this picture, but a <shape>" over 20 pictures, each with another shape."""
    labels = group[1]
    found = {"composed": 0, "picture": 0, "words": 0}
    for number, (data, spec) in enumerate(held_out_pictures[:20]):
        shape = SHAPES[(SHAPES.index(spec.shape) + 1 + number % 4) % len(SHAPES)]
        wanted = ShapeSpec(spec.colour, shape)
        picture = await searcher.picture_query(data)
        runs = {
            "composed": searcher.search_image(
                ["group"], await searcher.picture_query(data, shape.en), k=5
            ),
            "picture": searcher.search_image(["group"], picture, k=5),
            "words": searcher.search_text(["group"], shape.en, k=5),
        }
        for name, run in runs.items():
            found[name] += sum(labels[hit.image.id] == wanted for hit in await run)
    assert found["composed"] >= 50, found  # of 100
    assert found["composed"] > 2 * max(found["picture"], found["words"]), found


# The command line: the same words in the query, or as options


@pytest.fixture(scope="module")
def cli_config(
    group: tuple[IndexerConfig, dict[int, ShapeSpec]], model_config: ModelConfig
) -> Path:
    config = group[0].storage.data_dir.parent / "config.toml"
    config.write_text(
        f'[model]\narch = "{model_config.arch}"\ncheckpoint = "{model_config.checkpoint}"\n'
        f'[storage]\ndata_dir = "{group[0].storage.data_dir}"\n[index]\nflat_max = 100\n'
    )
    return config


def _printed_ids(out: str) -> list[int]:
    return [int(line.rpartition("(id ")[2].split(",")[0].rstrip(")")) for line in out.splitlines()]


def test_cli_filters_in_the_query_and_as_options(
    cli_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    search = ["--config", str(cli_config), "search", "--collection", "group"]
    assert main([*search, "a blue star from:@ben_k kind:photo", "-k", "8"]) == 0
    ids = _printed_ids(capsys.readouterr().out)
    assert len(ids) == 8
    assert {_poster_of(i) for i in ids} == {BEN[0]}
    assert all(i % 12 not in (5, 7, 9, 11) for i in ids)

    assert (
        main([*search, "--poster", "小明", "--since", "2025-12", "--until", "2025-12", "-k", "40"])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    december = [i for i in range(1, 241) if ts("2025-12-01") <= FIRST_POST + (i - 1) * DAY]
    assert sorted(_printed_ids("\n".join(lines))) == [i for i in december if _poster_of(i) == 3]
    assert lines[0].startswith(" 1. posted 2025-12-") and "小明 (3)" in lines[0]


def test_cli_bad_filters_and_unknown_posters_are_one_error_line(
    cli_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    search = ["--config", str(cli_config), "search", "--collection", "group"]
    assert main([*search, "a cat after:yesterdayish colour:red"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "'after:yesterdayish': not a date like 2025-07-14" in err
    assert "unknown filter 'colour:red'" in err
    assert main([*search, "a cat from:@nobody"]) == 2
    assert "nobody called '@nobody' has posted a picture here" in capsys.readouterr().err


def test_cli_searches_with_a_picture_and_words_as_one_query(
    cli_config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    held_out_pictures: list[tuple[bytes, ShapeSpec]],
) -> None:
    number = next(n for n, (_, spec) in enumerate(held_out_pictures) if spec.slug == "red_circle")
    picture = tmp_path / "red_circle.jpg"
    picture.write_bytes(held_out_pictures[number][0])
    search = ["--config", str(cli_config), "search", "--collection", "group", "-k", "240"]
    assert main([*search, "--image", str(picture), "square"]) == 0
    composed = _printed_ids(capsys.readouterr().out)
    assert main([*search, "--image", str(picture)]) == 0
    alone = _printed_ids(capsys.readouterr().out)
    slugs = {i + 1: spec.slug for i, (_, spec) in enumerate(held_out_pictures)}

    def mean_rank(ids: list[int], slug: str) -> float:
        ranks = [rank for rank, i in enumerate(ids) if slugs[i] == slug]
        return sum(ranks) / len(ranks)

    assert mean_rank(composed, "red_square") < mean_rank(composed, "red_circle")
    assert mean_rank(alone, "red_square") > mean_rank(alone, "red_circle")


@pytest.mark.parametrize("layout", [IndexLayout(), IndexLayout(nlist=4)])
@pytest.mark.parametrize("base", [0, BITMAP_IDS], ids=["bitmap", "hash set"])
def test_an_index_ranks_only_the_ids_it_is_given_below_and_past_the_bitmap(
    layout: IndexLayout, base: int
) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((400, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = base + np.arange(1, 401)
    index = VectorIndex.build(ids, vectors, layout, 16)
    among = ids[[5, 77, 150, 151, 398]]
    _, found = index.search(vectors[:3], 10, among)
    assert found.shape == (3, 5)
    assert all(set(row) == set(among) for row in found.tolist())
    _, one = index.search(vectors[77:78], 1, among)
    assert one.tolist() == [[ids[77]]]


def test_a_kind_filter_names_its_pictures_through_an_index(tmp_path: Path) -> None:
    """kind:video reads the few clips' ids from an index, not every row of a 1 M collection."""

    async def create() -> None:
        from indexer.store import Store

        await (await Store.open_in(tmp_path)).close()

    asyncio.run(create())
    with sqlite3.connect(tmp_path / DATABASE_FILE) as db:
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT group_concat(id) FROM images "
            "WHERE collection_id = ? AND 1 AND kind IN (?, ?)",
            (1, "video", "video_note"),
        ).fetchall()
    assert "images_by_kind" in " ".join(str(row[-1]) for row in plan)


def test_a_date_at_the_end_of_the_calendar_is_a_hint_not_a_crash() -> None:
    """Found by attack: ``on:9999-12-31`` raised OverflowError (the day after it cannot be
    written), so the asker got no answer at all instead of a hint."""
    for query in ("on:9999-12-31", "before:9999-12-31 a cat", "日期：9999-12-31"):
        parsed = parse_query(query, NOW)
        assert [problem.kind for problem in parsed.problems] == ["bad_date"], query
    assert parse_query("after:9999-12-30", NOW).problems == ()


async def test_sort_new_pages_past_newest_among_neither_repeat_nor_skip(
    group: tuple[IndexerConfig, dict[int, ShapeSpec]], embedder: Embedder
) -> None:
    """Found by attack: past ``search.newest_among`` each More page re-sorted a deeper set of
    matches by date, so pictures of earlier pages came back and others were never shown."""
    config, _ = group
    few = config.model_copy(update={"search": config.search.model_copy(update={"newest_among": 8})})
    async with await IndexService.open(few, embedder, embed=False) as service:
        at_once = await service.search_text(
            ["group"], "a purple cross", k=24, filters=SearchFilters(newest=True)
        )
        paged = [
            hit
            for offset in range(0, 24, 4)
            for hit in await service.search_text(
                ["group"], "a purple cross", k=4, offset=offset, filters=SearchFilters(newest=True)
            )
        ]
    ids = [hit.image.id for hit in paged]
    assert len(set(ids)) == len(ids) == 24
    assert ids == [hit.image.id for hit in at_once]
    first = [hit.image.posted_at or 0.0 for hit in paged[:8]]
    assert first == sorted(first, reverse=True)


async def test_an_empty_name_or_a_bare_at_means_nobody_not_everyone_without_a_username(
    searcher: IndexService,
) -> None:
    """Found by attack: ``from:@`` (and the CLI's ``--poster ""``) matched every poster who has
    no @username (小明 here) and listed their pictures, instead of naming nobody."""
    for name in ("@", "", " "):
        with pytest.raises(UnknownPosterError):
            await searcher.search_text(["group"], "a cat", filters=SearchFilters(posters=(name,)))
        with pytest.raises(UnknownPosterError):
            await searcher.search_text(["group"], "", filters=SearchFilters(posters=(name,)))


async def test_chinese_input_full_width_at_and_punctuation_after_a_value(
    searcher: IndexService,
) -> None:
    """Found by attack: a Chinese input method types ``＠`` and ends clauses with ``，`` or
    ``。``: ``来自：＠ben_k`` named nobody, ``来自：小明，之后：2025-06`` looked for a poster
    called "小明，之后：2025-06", and ``最近：7天。`` was no period."""
    parsed = parse_query("红色的圆形 来自：小明，之后：2025-06；类型：视频。最近：700天。", NOW)
    assert parsed.problems == ()
    assert parsed.words == "红色的圆形"
    assert parsed.filters.posters == ("小明",)
    assert parsed.filters.after == ts("2025-06-01")
    assert parsed.filters.kinds == ("video", "video_note")
    for prose in ("注意，红色：圆形。", "照片，iPhone:红色"):
        assert parse_query(prose, NOW) == ParsedQuery(prose, SearchFilters()), prose
    hits = await searcher.search_text(
        ["group"], "", k=3, filters=searcher.parse_query("来自：＠BEN_K").filters
    )
    assert len(hits) == 3 and {hit.image.poster_id for hit in hits} == {BEN[0]}
