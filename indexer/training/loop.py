"""Contrastive (CLIP) training of an open_clip model on (picture, caption) pairs.

This is the one training loop of the project: the tiny test model is trained from scratch with it,
and fine-tuning continues a checkpoint with it. It knows nothing about what the pictures show.
The loss is open_clip's own :class:`~open_clip.ClipLoss`, so a model trained here behaves like
any other open_clip model: normalised embeddings compared by cosine similarity.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from open_clip import ClipLoss
from PIL import Image
from torch import nn

from indexer.model.device import autocast, select_device, to_device, training_plan

Preprocess = Callable[[Image.Image], torch.Tensor]
Tokenizer = Callable[[list[str]], torch.Tensor]
Progress = Callable[[int, float], None]
"""Called after every optimiser step with the step number (from 1) and that step's loss."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train; the defaults suit a small model trained from scratch.

    ``lr`` is the peak learning rate, reached after a linear warm-up over the first
    ``warmup_fraction`` of the steps and then decayed to zero along a cosine over the rest.
    Each training picture is flipped left-right with probability one half (``hflip``) and turned
    by a uniform random angle of at most ``max_rotation_degrees`` either way, with the edge
    pixels filling the corners.

    ``device`` and ``precision`` take ``model.device`` and ``model.precision``: the model and
    each batch move to the device, the weights stay float32, and the forward pass and loss run
    under autocast at ``precision`` (fp16, CUDA only, with a gradient scaler); see
    indexer/model/device.py. On the CPU in fp32 neither autocast nor a scaler takes part, so the
    tiny model's committed weights are reproduced bit for bit.
    """

    steps: int
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup_fraction: float = 0.05
    seed: int = 0
    hflip: bool = True
    max_rotation_degrees: float = 0.0
    device: str = "cpu"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.batch_size < 2:
            raise ValueError(
                f"batch_size must be at least 2 for a contrastive loss, got {self.batch_size}"
            )
        if not 0 <= self.warmup_fraction <= 1:
            raise ValueError(f"warmup_fraction must be between 0 and 1, got {self.warmup_fraction}")

    @property
    def warmup_steps(self) -> int:
        """Steps of linear warm-up before the cosine decay."""
        return round(self.warmup_fraction * self.steps)


MAX_LOGIT_SCALE = math.log(100)
"""The ceiling open_clip's own training puts on the learned temperature, for stability."""


def _lr_factor(step: int, config: TrainConfig) -> float:
    """Multiplier of the peak learning rate at ``step`` (counted from 0)."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    decay_steps = max(1, config.steps - config.warmup_steps)
    progress = (step - config.warmup_steps) / decay_steps
    return 0.5 * (1 + math.cos(math.pi * progress))


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """Weight decay on weight matrices only, as open_clip's training script does.

    Decaying gains, biases and the temperature would only pull them towards zero for no gain.
    """
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        exempt = param.ndim < 2 or any(k in name for k in ("bn", "ln", "bias", "logit_scale"))
        (no_decay if exempt else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def augment(images: torch.Tensor, config: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """Randomly flip and rotate a batch of preprocessed pictures (N, C, H, W), each on its own."""
    n = images.shape[0]
    if config.hflip:
        flip = torch.rand(n, generator=generator) < 0.5
        images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    if config.max_rotation_degrees > 0:
        limit = math.radians(config.max_rotation_degrees)
        angle = (torch.rand(n, generator=generator) * 2 - 1) * limit
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros(n)
        theta = torch.stack(
            [torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1
        )
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        images = F.grid_sample(images, grid, padding_mode="border", align_corners=False)
    return images


def train_contrastive(
    model: nn.Module,
    pairs: Sequence[tuple[Image.Image, str]],
    preprocess: Preprocess,
    tokenizer: Tokenizer,
    config: TrainConfig,
    progress: Progress | None = None,
) -> list[float]:
    """Train ``model`` in place on ``pairs`` and return the loss of every step.

    ``model`` is an open_clip CLIP model (``encode_image``, ``encode_text``, ``logit_scale``);
    ``preprocess`` and ``tokenizer`` are the ones it was created with. Parameters with
    ``requires_grad`` off (a locked tower) stay as they are. Pictures are preprocessed once up
    front and kept as float16, so memory grows with ``len(pairs) x 3 x image_size² x 2`` bytes.
    Batches are drawn at random without replacement, epoch after epoch. With the same seed,
    pairs and thread count the result is the same. The model is left in eval mode, on
    ``config.device`` in float32. Pictures are kept and augmented on the CPU (with the CPU
    generator, so the random draws do not depend on the device); each batch is then moved.
    """
    if len(pairs) < config.batch_size:
        raise ValueError(f"need at least batch_size={config.batch_size} pairs, got {len(pairs)}")
    device = select_device(config.device)
    plan = training_plan(device.type, config.precision)
    model.to(device=device, dtype=plan.weights)
    generator = torch.Generator().manual_seed(config.seed)
    images = torch.stack([preprocess(image) for image, _ in pairs]).to(torch.float16)
    texts = tokenizer([caption for _, caption in pairs])

    optimiser = torch.optim.AdamW(_param_groups(model, config.weight_decay), lr=config.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: _lr_factor(s, config))
    loss_fn = ClipLoss()
    scaler = torch.amp.GradScaler(device.type, enabled=plan.scale_gradients)
    logit_scale = model.logit_scale  # type: ignore[union-attr]

    losses: list[float] = []
    order = torch.randperm(len(pairs), generator=generator)
    cursor = 0
    model.train()
    for step in range(1, config.steps + 1):
        if cursor + config.batch_size > len(order):
            order, cursor = torch.randperm(len(pairs), generator=generator), 0
        batch = order[cursor : cursor + config.batch_size]
        cursor += config.batch_size

        image_batch = to_device(augment(images[batch].float(), config, generator), device)
        text_batch = to_device(texts[batch], device)
        with autocast(device, plan):
            image_features = model.encode_image(image_batch, normalize=True)  # type: ignore[operator]
            text_features = model.encode_text(text_batch, normalize=True)  # type: ignore[operator]
            loss = loss_fn(image_features, text_features, logit_scale.exp())
        optimiser.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()
        schedule.step()
        with torch.no_grad():
            logit_scale.clamp_(0, MAX_LOGIT_SCALE)

        losses.append(loss.item())
        if progress is not None:
            progress(step, losses[-1])
    model.eval()
    return losses
