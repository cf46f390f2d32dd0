"""Fine-tuning the current model on a group's own (picture, caption) pairs.

A pretrained CLIP knows "a square" but not the names, places and jokes of one group
("人民广场", a friend's nickname). Continuing its contrastive training on a few dozen to a few
thousand of the group's captioned pictures teaches it those words. This module does that with
the project's one training loop (:func:`indexer.training.loop.train_contrastive`), stopping
early when held-out recall stops improving, and writes the new checkpoint with a JSON card
(:mod:`indexer.training.card`) that says what was done and what it changed: recall before and
after on held-out pairs (which training never saw) and on a general set (to catch forgetting).

The checkpoint is a plain float16 state_dict that open_clip loads with ``pretrained=<file>``;
pointing ``model.checkpoint`` at it changes the model identity, so ``reindex`` re-embeds the
collections with it. Training runs on ``model.device`` with float32 weights, its forward passes
under autocast at ``model.precision`` (indexer/model/device.py); recall is measured in float32 on
the same device, and the checkpoint is written from CPU copies, so it loads on any machine.

Length (over ~350 lines, on purpose): the options, the epoch watcher with early stopping and
one run from checking the data to the kept weights, each step a short function read in order.
"""

from __future__ import annotations

import asyncio
import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from open_clip.utils import freeze_batch_norm_2d
from tqdm import tqdm

from indexer import synthetic
from indexer.config import IndexerConfig, ModelConfig
from indexer.errors import FinetuneError
from indexer.model.embedder import Embedder, model_input_side
from indexer.model.identity import model_identity
from indexer.model.loading import LoadedModel, load_open_clip
from indexer.store import DATABASE_FILE
from indexer.synthetic import ALL_SPECS
from indexer.training.card import (
    CardData,
    FinetuneResult,
    Measured,
    card_facts,
    say_summary,
    write_outputs,
)
from indexer.training.evaluation import (
    RECALL_AT,
    DirectionMetrics,
    RetrievalReport,
    evaluate_retrieval,
)
from indexer.training.loop import TrainConfig, train_contrastive
from indexer.training.pairs import (
    LoadedPair,
    Pair,
    PairSource,
    decode_pairs,
    read_collection_pairs,
    read_pairs_file,
    split_held_out,
)
from indexer.training.tiny_model import TINY_MODEL_NAME

#: The tiny model's default general set: canonical captions of fresh shapes-world pictures.
GENERAL_SHAPES_PER_KIND = 8
GENERAL_SHAPES_SEED = 2_718_281


@dataclass(frozen=True)
class FinetuneOptions:
    """How to fine-tune; the defaults suit a pretrained ViT-B model and a few thousand pairs.

    ``held_out`` is the share of pictures kept out of training to measure on. With
    ``patience``, training stops once the held-out mean recall has not improved for that many
    epochs, and the best epoch's weights are kept; without it, the last epoch's are.
    """

    out: Path
    epochs: int = 5
    batch_size: int = 32
    lr: float = 1e-5
    warmup_fraction: float = 0.1
    lock_image: bool = False
    held_out: float = 0.1
    seed: int = 0
    patience: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise FinetuneError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 2:
            raise FinetuneError(
                f"--batch-size must be at least 2 for a contrastive loss, got {self.batch_size}"
            )
        if not self.lr > 0:
            raise FinetuneError(f"--lr must be above 0, got {self.lr}")
        if not 0 <= self.warmup_fraction <= 1:
            raise FinetuneError(f"--warmup must be between 0 and 1, got {self.warmup_fraction}")
        if not 0 <= self.held_out < 1:
            raise FinetuneError(f"--held-out must be at least 0 and below 1, got {self.held_out}")
        if self.patience is not None and self.patience < 1:
            raise FinetuneError(f"--patience must be at least 1, got {self.patience}")
        if self.patience is not None and self.held_out == 0:
            raise FinetuneError("--patience needs held-out pairs to watch; set --held-out above 0")


def shapes_general_source() -> PairSource:
    """The tiny model's general set: each fresh shapes-world picture with its canonical captions.

    The pictures are drawn with their own seed, so they are neither the tiny model's training
    pictures nor, unless someone draws them on purpose, in a fine-tuning file.
    """
    pictures = synthetic.make_dataset(GENERAL_SHAPES_PER_KIND * len(ALL_SPECS), GENERAL_SHAPES_SEED)
    pairs = []
    for number, (image, spec) in enumerate(pictures):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        for caption in (spec.caption_en, spec.caption_zh):
            pairs.append(Pair(buffer.getvalue(), caption, f"shapes picture {number}"))
    description = {
        "synthetic": "shapes world: English and Chinese canonical captions of "
        f"{len(pictures)} fresh pictures (seed {GENERAL_SHAPES_SEED})"
    }
    return PairSource(pairs, [], description)


def default_general_source(arch: str) -> PairSource | None:
    """The general set used without ``--general``: the shapes world for the tiny model only.

    Other models have no general set the project can ship, so general recall is then skipped.
    """
    return shapes_general_source() if arch == TINY_MODEL_NAME else None


class _EarlyStop(Exception):
    """Raised from the step callback to end training when held-out recall stopped improving."""


class _Epochs:
    """Watches training step by step: progress bar, held-out recall per epoch, early stop."""

    def __init__(
        self,
        model: Any,
        options: FinetuneOptions,
        config: TrainConfig,
        steps_per_epoch: int,
        measure: Callable[[], RetrievalReport] | None,
        say: Callable[[str], None],
    ) -> None:
        self.model = model
        self.options = options
        self.config = config
        self.steps_per_epoch = steps_per_epoch
        self.measure = measure
        self.say = say
        self.bar = tqdm(total=config.steps, desc="fine-tuning", unit="step", disable=None)
        self.started = time.perf_counter()
        self.seconds = 0.0
        self.losses: list[float] = []
        self.history: list[dict[str, float]] = []
        self.best_score = -math.inf
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None

    def __call__(self, step: int, loss: float) -> None:
        self.losses.append(loss)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.3f}")
        if step % self.steps_per_epoch:
            return
        epoch = step // self.steps_per_epoch
        entry = {"epoch": epoch, "loss": round(_mean(self.losses[-self.steps_per_epoch :]), 4)}
        message = f"epoch {epoch}/{self.options.epochs}: loss {entry['loss']:.3f}"
        if self.measure is not None:
            self.model.eval()
            report = self.measure()
            self.model.train()
            entry["held_out_mean_recall"] = round(report.mean_recall, 4)
            message += f", held-out {_recall_summary(report)}"
            self._track(epoch, report.mean_recall)
        self.history.append(entry)
        self._say(message)
        patience = self.options.patience
        stalled = patience is not None and epoch - self.best_epoch >= patience
        if stalled and epoch < self.options.epochs:
            self._say(
                f"stopping: held-out recall has not improved for {patience} epoch(s); "
                f"keeping epoch {self.best_epoch}"
            )
            raise _EarlyStop

    def _say(self, message: str) -> None:
        """Passes a message on without tearing the progress bar."""
        with self.bar.external_write_mode():
            self.say(message)

    def _track(self, epoch: int, score: float) -> None:
        if score <= self.best_score:
            return
        self.best_score, self.best_epoch = score, epoch
        if self.options.patience is not None:
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def finish(self) -> None:
        """Closes the progress bar and leaves the model in eval mode, however training ended."""
        self.bar.close()
        self.model.eval()
        self.seconds = time.perf_counter() - self.started

    def hyperparameters(self) -> dict[str, object]:
        """The settings of this run, and which epoch's weights were kept, for the card."""
        options, config = self.options, self.config
        return {
            "epochs": options.epochs,
            "epochs_run": len(self.history),
            "kept_epoch": self.best_epoch if options.patience else len(self.history),
            "patience": options.patience,
            "steps_per_epoch": self.steps_per_epoch,
            "batch_size": config.batch_size,
            "lr": config.lr,
            "schedule": "linear warm-up, then cosine decay to 0 over all epochs",
            "warmup_fraction": config.warmup_fraction,
            "weight_decay": config.weight_decay,
            "lock_image": options.lock_image,
            "batch_norm_statistics": "frozen",
            "hflip": config.hflip,
            "held_out_fraction": options.held_out,
            "seed": config.seed,
        }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _recall_summary(report: RetrievalReport) -> str:
    def recalls(metrics: DirectionMetrics) -> str:
        return "/".join(f"{metrics.recall[k]:.2f}" for k in RECALL_AT)

    ks = "/".join(str(k) for k in RECALL_AT)
    return (
        f"R@{ks} text→image {recalls(report.text_to_image)}, "
        f"image→text {recalls(report.image_to_text)}"
    )


def finetune(
    config: IndexerConfig,
    source: PairSource,
    options: FinetuneOptions,
    general: PairSource | None,
    say: Callable[[str], None] = print,
) -> FinetuneResult:
    """Fine-tunes ``config``'s model on ``source`` and writes the checkpoint at ``options.out``.

    Nothing is written unless training finishes: bad pairs, too few pairs or an interruption
    leave no file behind. Beside the checkpoint go its card (``.json``) and, when pairs were
    held out, those pairs (``.heldout.jsonl``), so that ``eval`` can measure them again.
    ``general`` (None: not measured) must share no picture with ``source``.
    """
    started = time.perf_counter()
    _check_out_path(options.out, config.model)
    fp32 = config.model.model_copy(update={"precision": "fp32"})
    loaded = load_open_clip(fp32)
    embedder = Embedder(loaded, model_identity(config.model), fp32)
    side = model_input_side(loaded.model)

    pairs = decode_pairs(source, config.limits, side)
    train, held_out = split_held_out(pairs, options.held_out, options.seed)
    if len(train) < options.batch_size:
        raise FinetuneError(
            f"only {len(train)} training pairs ({len(held_out)} more held out), fewer than "
            f"--batch-size {options.batch_size}: lower --batch-size or add pairs"
        )
    general_pairs = decode_pairs(general, config.limits, side) if general is not None else None
    _check_general_is_unseen(pairs, general_pairs)
    say(
        f"fine-tuning {embedder.identity} on {config.model.device} ({config.model.precision}) "
        f"with {len(train)} pairs ({len(held_out)} held out): "
        f"{options.epochs} epoch(s) of {len(train) // options.batch_size} step(s) of "
        f"{options.batch_size}" + (", image tower locked" if options.lock_image else "")
    )

    before = Measured.now(embedder, held_out, general_pairs)
    template = loaded.model.state_dict()
    watcher = _train(loaded, embedder, train, held_out, options, config.model, say)
    state = _half_state(loaded.model, template)
    after = Measured.now(embedder, held_out, general_pairs)

    data = CardData(source, pairs, train, held_out, general)
    facts = card_facts(config.model, embedder, data, watcher, before, after, options.out)
    result = write_outputs(options.out, state, facts, [pair.pair for pair in held_out], started)
    say_summary(say, result, before, after, data)
    return result


def _train(
    loaded: LoadedModel,
    embedder: Embedder,
    train: list[LoadedPair],
    held_out: list[LoadedPair],
    options: FinetuneOptions,
    model_config: ModelConfig,
    say: Callable[[str], None],
) -> _Epochs:
    """Trains ``loaded.model`` in place, epoch by epoch; returns what happened in each epoch.

    One call of the training loop spans all epochs, so warm-up and cosine decay run once over
    the whole schedule; held-out recall is measured from its step callback at each epoch's end.
    An epoch is ``len(train) // batch_size`` steps, the loop's own reshuffling period.
    """
    model = loaded.model
    steps_per_epoch = len(train) // options.batch_size
    config = TrainConfig(
        steps=options.epochs * steps_per_epoch,
        batch_size=options.batch_size,
        lr=options.lr,
        warmup_fraction=options.warmup_fraction,
        seed=options.seed,
        hflip=False,
        device=model_config.device,
        precision=model_config.precision,
    )
    _prepare(model, options.lock_image)
    watcher = _Epochs(
        model,
        options,
        config,
        steps_per_epoch,
        (lambda: evaluate_retrieval(embedder, held_out)) if held_out else None,
        say,
    )
    pairs = [(pair.image, pair.caption) for pair in train]
    try:
        train_contrastive(model, pairs, loaded.preprocess, loaded.tokenizer, config, watcher)
    except _EarlyStop:
        pass
    finally:
        watcher.finish()
    if watcher.best_state is not None:
        model.load_state_dict(watcher.best_state)
    return watcher


def _check_out_path(out: Path, base: ModelConfig) -> None:
    if out.is_dir():
        raise FinetuneError(f"--out {out} is a folder; give the checkpoint's file name")
    if out.suffix in (".json", ".jsonl"):
        raise FinetuneError(f"--out {out}: the card and held-out pairs use that name; use .pt")
    if base.checkpoint is not None and out.resolve() == base.checkpoint.resolve():
        raise FinetuneError(
            f"--out {out} is the checkpoint being fine-tuned (model.checkpoint); choose a new path"
        )


def _check_general_is_unseen(pairs: list[LoadedPair], general: list[LoadedPair] | None) -> None:
    """The general set measures forgetting only if fine-tuning never sees its pictures."""
    shared = {p.picture for p in pairs} & {p.picture for p in general or []}
    if shared:
        raise FinetuneError(
            f"{len(shared)} picture(s) of the general set are also in the fine-tuning pairs; "
            "the general set must be pictures that fine-tuning never sees"
        )


def _prepare(model: Any, lock_image: bool) -> None:
    """Locks the image tower if asked, and freezes batch-norm statistics in any case.

    Fine-tuning batches are small and one-sided; letting them move the statistics would shift
    every picture's embedding, the ones already indexed included. (ViT models have none.)
    """
    if lock_image:
        model.lock_image_tower(unlocked_groups=0, freeze_bn_stats=True)
    else:
        freeze_batch_norm_2d(model.visual)


def _half_state(model: Any, template: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The weights to save, rounded to float16 and loaded back so measurements match the file.

    Keys follow ``template`` (the base model's state): frozen batch norms drop their unchanged
    batch counters, which are taken from there. Every tensor is a CPU copy, so a checkpoint
    trained on a GPU loads on a machine without one.
    """
    trained = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.load_state_dict(trained)
    return {key: trained.get(key, value).cpu() for key, value in template.items()}


@dataclass(frozen=True)
class TrainingData:
    """Where ``finetune`` takes its pairs from: a pairs file or a collection (exactly one),
    and optionally a general pairs file to catch forgetting (else the model's default set)."""

    pairs: Path | None = None
    collection: str | None = None
    general: Path | None = None


def finetune_from(config: IndexerConfig, data: TrainingData, options: FinetuneOptions) -> None:
    """``python -m indexer finetune``: reads the pairs, trains, writes, reports on the terminal."""
    source = (
        read_pairs_file(data.pairs)
        if data.pairs is not None
        else asyncio.run(
            read_collection_pairs(config.storage.data_dir / DATABASE_FILE, str(data.collection))
        )
    )
    general = (
        read_pairs_file(data.general)
        if data.general is not None
        else default_general_source(config.model.arch)
    )
    finetune(config, source, options, general)
