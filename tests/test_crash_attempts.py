"""An attempt that ended with the process (a kill, a crash) is not a failed attempt: three
kills while a good picture is embedded do not give it up; a picture that keeps killing the
process is tried alone, so the pictures beside it are not charged, and is given up after
``max_attempts`` + ``EXTRA_CRASHES`` of them. Each "kill" here stops at a known step: the
attempt is begun and the store is closed without ending it, as a killed process leaves it."""

from __future__ import annotations

from pathlib import Path

from indexer.records import ImageFacts
from indexer.store import Store
from indexer.store.queue import EXTRA_CRASHES

#: limits.max_attempts in these tests: a picture is given up after 3 + 2 crashes.
ATTEMPTS = 3
MAX_CRASHES = ATTEMPTS + EXTRA_CRASHES


async def _queued(path: Path, count: int) -> list[int]:
    store = await Store.open(path)
    ids = []
    for number in range(count):
        facts = ImageFacts(source=f"upload:{number}", message_id=number)
        image_id = await store.queue.add_image(
            await store.collections.ensure("c"), facts, data=b"x"
        )
        assert image_id is not None
        ids.append(image_id)
    await store.close()
    return ids


async def _killed_during(path: Path, ids: list[int]) -> list[int]:
    """A process begins attempts on ``ids`` and is killed before any of them ends."""
    store = await Store.open(path)
    begun = await store.queue.begin_attempts(ids, ATTEMPTS)
    await store.close()
    return begun


async def _status(path: Path, image_id: int) -> tuple[str, str | None]:
    store = await Store.open(path)
    record = (await store.pictures.images([image_id]))[image_id]
    await store.close()
    return record.status, record.error


async def test_three_kills_while_a_good_picture_is_embedded_do_not_give_it_up(
    tmp_path: Path,
) -> None:
    path = tmp_path / "index.sqlite3"
    [picture] = await _queued(path, 1)

    for _ in range(3):
        assert await _killed_during(path, [picture]) == [picture]

    assert await _status(path, picture) == ("pending", None)


async def test_after_a_kill_the_pictures_of_the_batch_are_tried_one_at_a_time(
    tmp_path: Path,
) -> None:
    path = tmp_path / "index.sqlite3"
    batch = await _queued(path, 4)
    await _killed_during(path, batch)

    store = await Store.open(path)
    first = await store.queue.begin_attempts(batch, ATTEMPTS)
    await store.queue.mark_attempt_failed(first[0], "timed out", permanent=False, max_attempts=3)
    second = await store.queue.begin_attempts(batch, ATTEMPTS)
    await store.close()

    assert len(first) == 1 and len(second) == 1 and first != second


async def test_a_picture_that_keeps_killing_the_process_is_given_up_alone(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    bomb, *others = await _queued(path, 3)
    await _killed_during(path, [bomb, *others])
    store = await Store.open(path)
    for other in others:  # each innocent picture, tried alone, ends normally
        assert await store.queue.begin_attempts([other], ATTEMPTS) == [other]
        await store.queue.end_attempts([other])
    await store.close()

    for _ in range(MAX_CRASHES):
        await _killed_during(path, [bomb])
    store = await Store.open(path)
    assert await store.queue.begin_attempts([bomb, *others], ATTEMPTS) == others[:1]
    await store.close()

    status, error = await _status(path, bomb)
    assert status == "failed" and error is not None and "ended" in error
    assert [(await _status(path, other))[0] for other in others] == ["pending", "pending"]


async def test_a_clean_stop_is_no_crash(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    batch = await _queued(path, 3)
    store = await Store.open(path)
    assert await store.queue.begin_attempts(batch, ATTEMPTS) == batch
    await store.queue.end_attempts(batch)
    await store.close()

    store = await Store.open(path)
    assert await store.queue.begin_attempts(batch, ATTEMPTS) == batch
    await store.close()
