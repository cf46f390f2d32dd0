"""Configuration fails fast, naming the wrong key; relative paths follow the config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.config import IndexConfig, load_indexer_config
from indexer.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_example_config_is_valid_and_documents_the_defaults() -> None:
    config = load_indexer_config(REPO / "config.example.toml")
    assert config.model.arch == "xlm-roberta-base-ViT-B-32"
    assert config.model.pretrained == "laion5b_s13b_b90k"
    assert config.model.checkpoint is None
    assert config.index == IndexConfig()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[model]\nbatch_size = 0\n", "model.batch_size"),
        ("[model]\nprecision = 'fp8'\n", "model.precision"),
        ("[model]\nprecision = 'fp16'\n", "model.precision"),
        ("[model]\narchitecture = 'ViT-B-32'\n", "model.architecture"),
        ("[index]\nflat_max = 'many'\n", "index.flat_max"),
        ("[index]\nbackend = 'qdrant'\n", "index.backend"),
        ("[index]\nembedding = 'worker'\n", "index: Value error"),
        ("[index.milvus]\nindex_type = 'DISKANN'\n", "index.milvus.index_type"),
        ("[storage]\ndata_dir = 3\n", "storage.data_dir"),
        ("[modle]\narch = 'x'\n", "modle"),
    ],
)
def test_a_wrong_key_or_value_is_named(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_indexer_config(write(tmp_path, text))


def test_broken_toml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_indexer_config(write(tmp_path, "[model\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_indexer_config(tmp_path / "missing.toml")


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config = load_indexer_config(
        write(tmp_path, "[model]\ncheckpoint = 'models/m.pt'\n[storage]\ndata_dir = 'data'\n")
    )
    assert config.model.checkpoint == tmp_path / "models" / "m.pt"
    assert config.storage.data_dir == tmp_path / "data"


def test_empty_string_means_unset(tmp_path: Path) -> None:
    config = load_indexer_config(write(tmp_path, "[model]\npretrained = ''\ncheckpoint = ''\n"))
    assert config.model.pretrained is None and config.model.checkpoint is None


def test_a_milvus_lite_file_is_relative_to_the_config_but_a_server_address_is_kept(
    tmp_path: Path,
) -> None:
    lite = load_indexer_config(
        write(tmp_path, "[index]\nbackend = 'milvus'\n[index.milvus]\nuri = 'data/milvus.db'\n")
    )
    server = load_indexer_config(
        write(tmp_path, "[index.milvus]\nuri = 'http://milvus.internal:19530'\n")
    )
    assert lite.index.backend == "milvus"
    assert lite.index.milvus.uri == str(tmp_path / "data" / "milvus.db")
    assert server.index.milvus.uri == "http://milvus.internal:19530"


def test_the_milvus_token_never_shows_in_the_printed_config(tmp_path: Path) -> None:
    config = load_indexer_config(write(tmp_path, "[index.milvus]\ntoken = 'root:Milvus-s3cret'\n"))
    assert config.index.milvus.token.get_secret_value() == "root:Milvus-s3cret"
    assert "s3cret" not in repr(config) and "s3cret" not in str(config.model_dump())
