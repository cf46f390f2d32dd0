"""XLM-RoBERTa-shaped models built inside the tests: no weights can be downloaded here.

- :func:`build_text_source` writes what the model hub would hold for a Hugging Face text
  tower: the text model's ``config.json`` and tokenizer files. The tokenizer is a Unigram
  model trained with the ``tokenizers`` library on English and Chinese sentences, with
  XLM-R's special tokens (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2).
- :func:`register_arch` makes an open_clip architecture whose text tower is read from such a
  folder, so open_clip never asks the hub.
- :func:`build_tiny_folder` builds a tiny CLIP of that kind with random weights and writes it
  with ``model export``'s own writer, as an air-gapped machine would receive it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import open_clip
import torch

from indexer.cli.model import write_model_folder
from indexer.model.calibration import phrases
from indexer.model.folder import ModelFolder
from indexer.synthetic import ALL_SPECS

TINY_ARCH = "test-tiny-xlmr-vit"
#: xlm-roberta-base's config.json as published (the values that shape the model).
XLMR_BASE_CONFIG: dict[str, Any] = {
    "architectures": ["XLMRobertaForMaskedLM"],
    "model_type": "xlm-roberta",
    "vocab_size": 250002,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "max_position_embeddings": 514,
    "type_vocab_size": 1,
    "layer_norm_eps": 1e-05,
    "bos_token_id": 0,
    "pad_token_id": 1,
    "eos_token_id": 2,
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "initializer_range": 0.02,
    "position_embedding_type": "absolute",
}
TINY_TEXT_SHAPE = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 80,
}


def training_sentences() -> list[str]:
    """A few hundred English and Chinese sentences: shapes-world captions and everyday phrases."""
    captions = [caption for spec in ALL_SPECS for caption in spec.captions]
    return captions + phrases()


def build_text_source(folder: Path, text_shape: dict[str, Any] | None = None) -> Path:
    """Writes an XLM-R text model's config.json and a trained tokenizer into ``folder``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import UnigramTrainer
    from transformers import XLMRobertaTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = UnigramTrainer(vocab_size=800, special_tokens=specials, unk_token="<unk>")
    tokenizer.train_from_iterator(training_sentences(), trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    XLMRobertaTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    ).save_pretrained(folder)
    config = dict(XLMR_BASE_CONFIG)
    if text_shape is not None:
        config.update(text_shape, vocab_size=tokenizer.get_vocab_size())
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def register_arch(name: str, model_cfg: dict[str, Any], text_source: Path, where: Path) -> str:
    """Makes ``name`` an open_clip architecture whose text tower comes from ``text_source``."""
    cfg = json.loads(json.dumps(model_cfg))
    cfg["text_cfg"].update(hf_model_name=str(text_source), hf_tokenizer_name=str(text_source))
    where.mkdir(parents=True, exist_ok=True)
    (where / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(where / f"{name}.json")
    return name


def create_random(arch: str) -> tuple[Any, Any, Any]:
    """The architecture with random weights (seeded), its preprocessing and tokenizer."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model, _, preprocess = open_clip.create_model_and_transforms(
            arch, pretrained=None, pretrained_text=False
        )
    model.eval()
    return model, preprocess, open_clip.get_tokenizer(arch)


def build_tiny_folder(work: Path) -> ModelFolder:
    """A tiny XLM-R + ViT CLIP with random weights, written as ``model export`` writes it."""
    source = build_text_source(work / "hub" / "tiny-xlm-roberta", TINY_TEXT_SHAPE)
    tiny_cfg = {
        "embed_dim": 32,
        "vision_cfg": {
            "image_size": 32,
            "layers": 2,
            "width": 64,
            "head_width": 32,
            "patch_size": 8,
        },
        "text_cfg": {"hf_pooler_type": "mean_pooler", "hf_proj_type": "linear"},
    }
    arch = register_arch(TINY_ARCH, tiny_cfg, source, work / "configs")
    model, _, tokenizer = create_random(arch)
    return write_model_folder(
        model, tokenizer, open_clip.get_model_config(arch), arch, None, work / "tiny-xlmr"
    )
