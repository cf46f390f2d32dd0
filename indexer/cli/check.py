"""``python -m indexer check``: is everything on disk whole and in agreement with SQLite?

SQLite is the source of truth, so the check starts there (SQLite's own integrity check, the
word index of captions and tags, rows that refer to nothing), then compares every collection's
FAISS files (pictures, captions and tags, clips' frames) with it: a file must be readable,
match the checksum saved with it, and hold exactly the ids SQLite says. It counts the pictures
whose words are not read yet (not a finding: the background stage reads them) and the reading
records of forgotten pictures (orphans). An indexed picture without a stored vector is a
finding too: every index is rebuilt from the stored vectors, so no search would find it
again. ``--repair`` rebuilds what can be rebuilt without the model: the word index from the
texts, FAISS files from the stored vectors, orphans deleted; pictures that lost their vector
are queued to be embedded again by the next ``index`` run or the bot. A damaged SQLite file
cannot be rebuilt from anything but a backup.
"""

from __future__ import annotations

from dataclasses import dataclass

from indexer.config import IndexerConfig
from indexer.errors import DamagedDatabaseError
from indexer.model.identity import model_identity
from indexer.records import FRAME_VECTORS, PICTURE_VECTORS, TEXT_VECTORS, VectorKind
from indexer.store import Store
from indexer.vectors.backend import faiss_files

#: Every kind of vector index, each checked on its own (pictures, texts, clips' frames).
_KINDS: tuple[VectorKind, ...] = (PICTURE_VECTORS, TEXT_VECTORS, FRAME_VECTORS)


@dataclass(frozen=True)
class CheckOptions:
    """What ``check`` does besides reporting."""

    #: Rebuild damaged or stale FAISS files and delete orphaned rows.
    repair: bool = False


async def check_data(config: IndexerConfig, options: CheckOptions) -> int:
    """Prints one line per finding and the counts of every collection; returns the exit
    status: 1 if anything was found (and, with ``repair``, is still not repaired)."""
    try:
        store = await Store.open_in(config.storage.data_dir)
    except DamagedDatabaseError as exc:
        print(f"SQLite: {exc}")
        return 1
    try:
        damaged = await store.health.integrity_problems()
        for problem in damaged[:20]:
            print(f"SQLite: {problem}")
        if damaged:
            print(
                f"{config.storage.data_dir} holds a damaged database: restore it from a backup "
                "(copy the file back and start; the FAISS files are rebuilt)"
            )
            return 1
        found = await _check_word_index(store, options)
        found += await _check_orphans(store, options)
        found += _check_leftovers(config, options)
        model_id = model_identity(config.model)
        for name, collection_id in (await store.collections.all()).items():
            found += await _check_missing_vectors(store, name, collection_id, model_id, options)
            if config.index.backend == "faiss":
                for kind in _KINDS:
                    found += await _check_faiss(
                        config, store, name, collection_id, kind, model_id, options
                    )
            counts = await store.pictures.counts(collection_id, model_id)
            read = await store.readings.counts(collection_id, config.limits.max_attempts)
            print(
                f"collection {name}: {counts.indexed} indexed, {counts.reposts} reposts, "
                f"{counts.pending} queued, {counts.failed} failed, {counts.forgotten} forgotten; "
                f"words read in {read.read}, {read.unread} not read yet, "
                f"{read.unreadable} unreadable"
            )
    finally:
        await store.close()
    if found:
        print(f"{found} finding(s)" + (", repaired" if options.repair else "; --repair fixes them"))
    else:
        print("no findings")
    return 1 if found and not options.repair else 0


async def _check_word_index(store: Store, options: CheckOptions) -> int:
    """1 if the trigram index of captions and tags disagrees with them, else 0."""
    if await store.health.word_index_sound():
        return 0
    print("SQLite: the word index of captions and tags disagrees with them")
    if options.repair:
        await store.health.rebuild_word_index()
    return 1


def _check_leftovers(config: IndexerConfig, options: CheckOptions) -> int:
    """1 if saves cut short by a kill left temporary FAISS files behind, else 0."""
    found = 0
    if config.index.backend != "faiss":
        return found
    for kind in _KINDS:
        files = faiss_files(config, kind)
        leftovers = files.remove_leftovers() if options.repair else files.leftovers()
        for path in leftovers:
            print(f"leftover of a save cut short: {path}")
        found = found or int(bool(leftovers))
    return found


async def _check_orphans(store: Store, options: CheckOptions) -> int:
    orphans = await store.health.orphans()
    for what, count in orphans.counts.items():
        if count:
            print(f"orphans: {count} {what}")
    if orphans.total and options.repair:
        await store.health.delete_orphans()
    return sum(1 for count in orphans.counts.values() if count)


async def _check_missing_vectors(
    store: Store, name: str, collection_id: int, model_id: str, options: CheckOptions
) -> int:
    """1 if indexed pictures of the collection lost their vector, else 0.

    Such a picture stays ``indexed`` yet is left out of every index rebuilt from SQLite, so
    it would never be found again; only embedding it again helps, which ``--repair`` queues.
    Pictures that only another model embedded are not damage: ``reindex`` is their remedy.
    """
    missing = await store.health.missing_vectors(collection_id, model_id)
    if missing.other_model:
        print(
            f"collection {name}: {missing.other_model} picture(s) embedded only by another "
            f"model: reindex --collection {name} re-embeds them with {model_id}"
        )
    if not missing.lost:
        return 0
    print(
        f"collection {name}: {missing.lost} indexed picture(s) have no stored vector, so no "
        "search finds them"
    )
    if options.repair:
        queued = await store.health.requeue_lost(collection_id, model_id)
        print(
            f"collection {name}: {queued} picture(s) queued again: the next index run "
            "(or the bot) embeds them"
        )
    return 1


async def _check_faiss(
    config: IndexerConfig,
    store: Store,
    name: str,
    collection_id: int,
    kind: VectorKind,
    model_id: str,
    options: CheckOptions,
) -> int:
    """1 if the collection's FAISS file of ``kind`` disagrees with SQLite, else 0."""
    files = faiss_files(config, kind)
    ids, vectors = await store.vectors.vectors(collection_id, model_id, kind)
    problem = files.disagreement(collection_id, model_id, ids)
    if problem is None:
        return 0
    print(f"collection {name}: {kind} index {files.path(collection_id, model_id)} {problem}")
    if options.repair:
        files.rebuild(collection_id, model_id, ids, vectors, config.index.flat_max)
    return 1
