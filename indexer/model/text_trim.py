"""Encoding query tokens without their padding: the same vectors as ``model.encode_text`` for
a fraction of the text tower's work (queries are ~10 tokens, padded to 77)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import open_clip
import torch


def can_trim_text(model: Any) -> bool:
    """Whether :func:`encode_text_trimmed` gives ``model.encode_text``'s vectors.

    True for open_clip's own text tower (:class:`open_clip.CLIP`): it is causally masked and
    pools at the end-of-text token (the argmax of the token ids), so no output it pools depends
    on the padding after that token. Hugging Face text towers (``CustomTextCLIP``, e.g.
    xlm-roberta) attend in both directions: :func:`hf_pad_token_id` covers them.
    """
    return (
        isinstance(model, open_clip.CLIP)
        and model.text_pool_type == "argmax"
        and model.attn_mask is not None
    )


def encode_text_trimmed(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """``open_clip.CLIP.encode_text`` run only up to the batch's last end-of-text token.

    Queries are a few tokens long and padded to the context length (77 for ViT-B-32); cutting
    the padding saves most of the text tower's work and, by :func:`can_trim_text`'s argument,
    changes no vector beyond float rounding.
    """
    return encode_text_prefix(model, trimmed_tokens(model, tokens))


def encode_text_prefix(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """``open_clip.CLIP.encode_text`` of tokens cut short after the end-of-text token.

    The steps mirror open_clip 3.x's ``encode_text`` with the positional embedding and causal
    mask sliced to the tokens' length. The length is read from the tensor's shape, so an ONNX
    export of this function keeps it as a dynamic axis (:mod:`indexer.model.onnx_text`).
    """
    length = tokens.shape[1]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype)
    x = x + model.positional_embedding[:length].to(cast_dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
    projection = model.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection


def hf_pad_token_id(model: Any) -> int | None:
    """The padding token of a Hugging Face text tower, if ``model`` has one.

    open_clip's ``HFTextEncoder`` masks attention to the padding tokens and its poolers (mean,
    CLS) weigh only unmasked positions; XLM-R's position ids count only non-padding tokens.
    So padding columns that are padding in every row of a batch change no vector, and
    :func:`encode_hf_text_trimmed` may drop them.
    """
    text = getattr(model, "text", None)
    if not isinstance(text, open_clip.hf_model.HFTextEncoder):
        return None
    pad = getattr(text.config, "pad_token_id", None)
    return None if pad is None else int(pad)


def encode_hf_text_trimmed(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """``model.encode_text`` on the batch cut after its last column holding a real token.

    The tokenizer pads every query to the context length (77); a query has about 10 tokens,
    and a transformer's cost grows with the length, so this saves most of the text tower's work.
    """
    return model.encode_text(trimmed_tokens(model, tokens))


def trimmed_tokens(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    """``tokens`` without the trailing columns that change none of ``model``'s vectors.

    For open_clip's own tower, the columns after the batch's last end-of-text token
    (:func:`can_trim_text`); for a Hugging Face tower, those that are padding in every row
    (:func:`hf_pad_token_id`); otherwise all of them.
    """
    if can_trim_text(model):
        return tokens[:, : int(tokens.argmax(dim=-1).max()) + 1]
    pad = hf_pad_token_id(model)
    if pad is None:
        return tokens
    real = (tokens != pad).any(dim=0).nonzero()
    return tokens[:, : int(real.max()) + 1 if len(real) else 1]


def _encode_text_full(model: Any, tokens: torch.Tensor) -> torch.Tensor:
    return model.encode_text(tokens)


def text_encoder_for(model: Any) -> Callable[[Any, torch.Tensor], torch.Tensor]:
    """The fastest way to encode ``model``'s tokens that gives its untrimmed vectors."""
    if can_trim_text(model):
        return encode_text_trimmed
    if hf_pad_token_id(model) is not None:
        return encode_hf_text_trimmed
    return _encode_text_full
