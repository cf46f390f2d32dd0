"""A fine-tuned model's card: what a run did and changed, written beside its checkpoint.

The card is a JSON file (``<checkpoint>.json``) that says which base model was tuned on which
pairs with which settings, and what it changed: recall before and after on the held-out pairs
(which training never saw) and on a general set (to catch forgetting), with a warning when
general recall fell by more than :data:`GENERAL_DROP_WARNING`. :func:`write_outputs` writes the
held-out pairs, the card and the checkpoint; :func:`say_summary` tells the person running
``finetune`` the same on the terminal. The run itself is :mod:`indexer.training.finetune`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import open_clip
import torch

from indexer.atomic import atomic_file
from indexer.config import ModelConfig
from indexer.errors import FinetuneError
from indexer.invocation import command_name
from indexer.model.embedder import Embedder
from indexer.model.identity import model_identity
from indexer.training.evaluation import RetrievalReport, evaluate_retrieval, format_reports
from indexer.training.pairs import LoadedPair, Pair, PairSource, pairs_jsonl
from indexer.training.tiny_model import card_path

#: A mean recall this high leaves nothing to improve on the same pairs.
PERFECT_RECALL = 0.999
#: General recall@5 may fall by this much (either direction) before the card and command warn.
GENERAL_DROP_WARNING = 0.05


@dataclass(frozen=True)
class FinetuneResult:
    """Where the new checkpoint and its card are, and the card's content."""

    checkpoint: Path
    card_path: Path
    held_out_path: Path | None
    card: dict[str, Any]


def held_out_path(checkpoint: Path) -> Path:
    """Where the held-out pairs of ``checkpoint`` are written: beside it, ``.heldout.jsonl``."""
    return checkpoint.with_suffix(".heldout.jsonl")


@dataclass(frozen=True)
class Measured:
    """Recall on the held-out pairs and on the general set at one moment (None: not measured)."""

    held_out: RetrievalReport | None
    general: RetrievalReport | None

    @classmethod
    def now(
        cls, embedder: Embedder, held_out: list[LoadedPair], general: list[LoadedPair] | None
    ) -> Measured:
        return cls(
            evaluate_retrieval(embedder, held_out) if held_out else None,
            evaluate_retrieval(embedder, general) if general else None,
        )


@dataclass(frozen=True)
class CardData:
    """The pairs a run used: all of them, as split, and the general set's source."""

    source: PairSource
    pairs: list[LoadedPair]
    train: list[LoadedPair]
    held_out: list[LoadedPair]
    general: PairSource | None


class TrainingRun(Protocol):
    """What the card records of the training itself (the run's epoch watcher)."""

    history: list[dict[str, float]]
    seconds: float

    def hyperparameters(self) -> dict[str, object]: ...


def card_facts(
    model: ModelConfig,
    embedder: Embedder,
    data: CardData,
    run: TrainingRun,
    before: Measured,
    after: Measured,
    out: Path,
) -> dict[str, Any]:
    """The card's content but for the new model's identity and the total time, which
    :func:`write_outputs` adds once the checkpoint is written."""
    return {
        "base_model": {
            "arch": model.arch,
            "pretrained": None if model.checkpoint else model.pretrained,
            "checkpoint": str(model.checkpoint) if model.checkpoint else None,
            "identity": embedder.identity,
        },
        "data": {
            **data.source.description,
            "pairs": len(data.pairs),
            "pictures": len({pair.picture for pair in data.pairs}),
            "train_pairs": len(data.train),
            "held_out_pairs": len(data.held_out),
        },
        "hyperparameters": run.hyperparameters(),
        "epochs": run.history,
        "held_out": _before_after(before.held_out, after.held_out, "no pairs held out")
        | ({"file": held_out_path(out).name} if data.held_out else {}),
        "general": _before_after(before.general, after.general, "no general set (--general)")
        | ({"data": data.general.description} if data.general is not None else {}),
        "general_recall_warning": _general_warning(before, after),
        "trained_with": {"device": model.device, "precision": model.precision},
        "measured_with": {
            "device": model.device,
            "precision": "fp32",
            "batch_size": embedder.batch_size,
        },
        "train_seconds": round(run.seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "open_clip_version": open_clip.__version__,
    }


def _before_after(
    before: RetrievalReport | None, after: RetrievalReport | None, why_not: str
) -> dict[str, object]:
    if before is None or after is None:
        return {"skipped": why_not}
    return {"before": before.as_dict(), "after": after.as_dict()}


def _general_drops(before: Measured, after: Measured) -> dict[str, float] | None:
    """How much general recall@5 fell in each direction (negative: it rose); None if unmeasured."""
    old, new = before.general, after.general
    if old is None or new is None:
        return None
    return {
        "text→image": old.text_to_image.recall[5] - new.text_to_image.recall[5],
        "image→text": old.image_to_text.recall[5] - new.image_to_text.recall[5],
    }


def _general_warning(before: Measured, after: Measured) -> bool:
    """True when general recall@5 fell by more than :data:`GENERAL_DROP_WARNING` either way.

    Compared after rounding, so that a fall of exactly five points does not warn.
    """
    drops = _general_drops(before, after)
    return drops is not None and round(max(drops.values()), 4) > GENERAL_DROP_WARNING


def write_outputs(
    out: Path,
    state: dict[str, torch.Tensor],
    facts: dict[str, Any],
    held_out: list[Pair],
    started: float,
) -> FinetuneResult:
    """Writes held-out pairs, card and checkpoint; the checkpoint last, so it marks completion.

    The card opens with the new model's identity, the name ``stats`` and stored vectors will
    show once ``model.checkpoint`` points at the file. A held-out file of an earlier run with
    the same ``out`` is removed when nothing was held out, so it cannot be taken for this one's.
    A file-system error becomes a :class:`FinetuneError` naming the file.
    """
    arch = facts["base_model"]["arch"]
    held_path = held_out_path(out) if held_out else None
    try:
        with atomic_file(out) as (handle, temporary):
            torch.save(state, handle)
            handle.flush()
            checkpoint = ModelConfig(arch=arch, pretrained=None, checkpoint=temporary)
            card = {
                "model": {"arch": arch, "identity": model_identity(checkpoint)},
                **facts,
                "total_seconds": round(time.perf_counter() - started, 1),
            }
            if held_path is not None:
                with atomic_file(held_path) as (held_handle, _):
                    held_handle.write(pairs_jsonl(held_out))
            else:
                held_out_path(out).unlink(missing_ok=True)
            with atomic_file(card_path(out)) as (card_handle, _):
                card_handle.write((json.dumps(card, indent=2, ensure_ascii=False) + "\n").encode())
    except OSError as exc:
        raise FinetuneError(f"cannot write {exc.filename or out}: {exc.strerror}") from None
    return FinetuneResult(out, card_path(out), held_path, card)


def held_out_blind_spots(data: CardData, before: Measured) -> list[str]:
    """Why the held-out recall cannot show what a run taught, when it cannot.

    A table of perfect scores reads as success; but held-out pairs that share no caption with
    the training pairs never ask for the names being taught, and a set the model already
    ranked perfectly cannot improve.
    """
    if not data.held_out or before.held_out is None:
        return []
    notes = []
    taught = {pair.caption for pair in data.train}
    if not any(pair.caption in taught for pair in data.held_out):
        notes.append(
            "the held-out pairs share no caption with the training pairs, so their recall "
            "cannot show whether the new names were learned; hold out pictures whose captions "
            "also appear in training (more pairs per caption), or measure with `eval --pairs`"
        )
    if before.held_out.mean_recall >= PERFECT_RECALL:
        notes.append(
            "held-out recall was already perfect before training: these pairs cannot show an "
            "improvement (too few, or too easy for the model)"
        )
    return notes


def say_summary(
    say: Callable[[str], None],
    result: FinetuneResult,
    before: Measured,
    after: Measured,
    data: CardData,
) -> None:
    """The before/after recall table, what it cannot show, a forgetting warning if any, and
    how to use the model."""
    rows = [
        (label, report)
        for label, report in (
            ("held-out before", before.held_out),
            ("held-out after", after.held_out),
            ("general before", before.general),
            ("general after", after.general),
        )
        if report is not None
    ]
    if rows:
        say(format_reports(rows))
    for note in held_out_blind_spots(data, before):
        say(f"NOTE: {note}")
    drops = _general_drops(before, after)
    if drops is None:
        say("general recall not measured: pass --general FILE (pairs unlike the training data)")
    elif result.card["general_recall_warning"]:
        say(
            "WARNING: general recall@5 fell by "
            + ", ".join(f"{100 * drop:.1f} points {name}" for name, drop in drops.items())
            + f" (more than {100 * GENERAL_DROP_WARNING:.0f}): the model is forgetting what it "
            "knew; try --lock-image, a lower --lr or fewer --epochs"
        )
    say(f"wrote {result.checkpoint} ({result.card['model']['identity']}), card {result.card_path}")
    if result.held_out_path is not None:
        say(f"held-out pairs in {result.held_out_path}: `eval --pairs` on them repeats the card")
    say(
        f'to use it: set model.checkpoint = "{result.checkpoint}" in the config, then run '
        f"`{command_name('indexer')} reindex --collection NAME` for each collection"
    )
