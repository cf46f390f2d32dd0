"""Typed, validated configuration of the indexer, read once from a TOML file.

A wrong key or value fails at start-up with the key's dotted name (``model.batch_size: ...``)
instead of surfacing later as a confusing error deep inside the model or the index.
Relative paths are resolved against the configuration file's folder, so a config file and its
data can be moved together.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from indexer.errors import ConfigError

#: Names the config file when ``--config`` does not.
CONFIG_ENV = "CLIP_SEARCH_CONFIG"
#: The config file used when neither ``--config`` nor ``$CLIP_SEARCH_CONFIG`` names one.
DEFAULT_CONFIG_PATH = Path("config.toml")
#: Sections of the shared config file that belong to other components (the Telegram bot).
FOREIGN_SECTIONS = frozenset({"telegram"})

Section = TypeVar("Section", bound=BaseModel)


class StrictSection(BaseModel):
    """A config section that rejects unknown keys, so typos fail loudly, and `inf` or `nan`
    (a time limit of `inf` would let a hung recogniser or download hold its slot for ever)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ModelConfig(StrictSection):
    """Which CLIP model embeds pictures and queries, and how it runs."""

    arch: str = "xlm-roberta-base-ViT-B-32"
    pretrained: str | None = "laion5b_s13b_b90k"
    checkpoint: Path | None = None
    #: A model folder written by ``python -m indexer model export``; when set, nothing is
    #: fetched from the network and arch/pretrained/checkpoint are taken from the folder.
    path: Path | None = None
    cache_dir: Path | None = None
    #: "cpu", "cuda" or "cuda:N"; checked against the machine when the model loads.
    device: str = "cpu"
    #: bf16 on CPUs with AVX-512 BF16 or on CUDA; fp16 on CUDA only (autocast, see device.py).
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    batch_size: int = Field(default=32, ge=1, le=1024)
    #: How the text tower runs on the CPU: "torch" at ``precision``; "onnx-int8" in ONNX Runtime
    #: with int8 weights (exported once, cached; indexer/model/onnx_text.py); "auto" takes
    #: onnx-int8 for text towers large enough to gain from it (the default model's XLM-R).
    text_runtime: Literal["auto", "torch", "onnx-int8"] = "auto"

    @field_validator("pretrained", "checkpoint", "path", "cache_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """TOML has no null: an empty string means "not set"."""
        return None if value == "" else value

    @model_validator(mode="after")
    def _fp16_needs_cuda(self) -> ModelConfig:
        """CPUs have no fast float16 arithmetic; torch would run it, slowly and less exact."""
        if self.precision == "fp16" and not self.device.startswith("cuda"):
            raise ValueError(
                f'model.precision = "fp16" needs model.device = "cuda" (it is {self.device!r}); '
                'on a CPU use "bf16" or "fp32"'
            )
        return self


class StorageConfig(StrictSection):
    """Where the SQLite database (the source of truth) and the FAISS files (a cache) live."""

    data_dir: Path = Path("data")


class MilvusConfig(StrictSection):
    """Where Milvus runs and how it indexes, for ``index.backend = "milvus"``."""

    #: ``http://host:19530`` for a server or cluster; a file path (``milvus.db``) for Milvus Lite.
    uri: str = "http://127.0.0.1:19530"
    #: Read from ``$MILVUS_TOKEN`` when empty; never logged.
    token: SecretStr = SecretStr("")
    #: Starts the names of this installation's Milvus collections, so several can share a server.
    name_prefix: str = Field(default="clip_search", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,100}$")
    index_type: Literal["IVF_SQ8", "HNSW", "FLAT"] = "IVF_SQ8"
    nlist: int = Field(default=1024, ge=1, le=65536)
    nprobe: int = Field(default=32, ge=1, le=65536)
    hnsw_m: int = Field(default=16, ge=2, le=2048)
    hnsw_ef_construction: int = Field(default=200, ge=1)
    hnsw_ef: int = Field(default=64, ge=1)

    def resolve_paths(self, base_dir: Path) -> MilvusConfig:
        """A Milvus Lite file path is relative to the config file; server addresses stay."""
        if "://" in self.uri:
            return self
        return self.model_copy(update={"uri": str((base_dir / self.uri).resolve())})


class IndexConfig(StrictSection):
    """Which vector store holds the vectors, and when FAISS leaves exact search."""

    backend: Literal["faiss", "milvus"] = "faiss"
    #: ``"worker"``: the bot only queues pictures; ``python -m bot --worker`` embeds them.
    embedding: Literal["in_process", "worker"] = "in_process"
    flat_max: int = Field(default=20_000, ge=1)
    save_interval_seconds: float = Field(default=10.0, gt=0)
    milvus: MilvusConfig = MilvusConfig()

    @model_validator(mode="after")
    def _worker_needs_a_shared_store(self) -> IndexConfig:
        """A separate worker cannot add to FAISS indexes that live in the bot's memory."""
        if self.embedding == "worker" and self.backend != "milvus":
            raise ValueError('embedding = "worker" needs backend = "milvus"')
        return self


class SearchConfig(StrictSection):
    """How captions and tags join the pictures' own pixels in a text search, how a picture
    and words make one query, and how many matches ``sort:new`` orders by date."""

    #: Unset: calibrated per model from its own unrelated-pair cosines
    #: (indexer/model/calibration.py).
    text_match_min: float | None = Field(default=None, ge=-1.0, le=1.01)
    #: A description's picture hits below this cosine are left out: a number, or "calibrated"
    #: for the model's calibrated text-picture floor. Unset: every picture may be shown.
    picture_match_min: Annotated[float, Field(ge=-1.0, le=1.01)] | Literal["calibrated"] | None = (
        None
    )
    rank_fusion_k: int = Field(default=60, ge=1)
    #: A picture searched together with words ("like this one, but at sunset") is one vector:
    #: the picture's plus this weight times the words' (both normalised). 1.25 ranks the
    #: asked-for change best on the tiny model's shapes (docs/BENCHMARKS.md).
    composed_text_weight: float = Field(default=1.25, ge=0.0, le=10.0)
    #: ``sort:new`` orders this many of the best matches (those above the picture floor) by
    #: date, newest first; further pages the next this many, and so on.
    newest_among: int = Field(default=100, ge=1, le=10_000)


class LimitsConfig(StrictSection):
    """Guards against inputs that would exhaust memory or time."""

    max_image_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(default=60_000_000, ge=1)
    max_query_chars: int = Field(default=1000, ge=1)
    max_attempts: int = Field(default=3, ge=1)
    download_seconds: float = Field(default=60.0, gt=0)
    #: A clip (video, GIF, video sticker) is indexed by this many frames spread over it.
    clip_frames: int = Field(default=8, ge=1, le=64)
    #: A clip's frames may have this many pixels (default: 4K UHD); larger clips are refused.
    max_clip_pixels: int = Field(default=3840 * 2160, ge=1)
    #: Only a clip's first this many seconds are read (a 10-hour clip costs as much as this).
    clip_seconds: float = Field(default=600.0, gt=0)
    #: Decoding one clip stops after this many seconds, with the frames it has by then.
    clip_decode_seconds: float = Field(default=30.0, gt=0)


class OcrConfig(StrictSection):
    """Reading the words written in pictures (signs, menus, screenshots, memes) to search by.

    A background stage after embedding (indexer/ingest/reading.py); the recogniser runs in a
    child process of its own (indexer/ocr), one picture at a time, each within a deadline.
    """

    enabled: bool = True
    #: Lines the recogniser is less sure of than this (0–1) are left out.
    min_confidence: float = Field(default=0.6, ge=0.0, le=1.0)
    #: A picture is scaled down to at most this many pixels on its longest side before reading.
    max_side: int = Field(default=1600, ge=64, le=10_000)
    #: A picture that takes longer fails (the recogniser is restarted) and is retried later.
    seconds_per_picture: float = Field(default=30.0, gt=0)


class IndexerConfig(StrictSection):
    """Everything the indexer reads from the configuration file."""

    model: ModelConfig = ModelConfig()
    storage: StorageConfig = StorageConfig()
    index: IndexConfig = IndexConfig()
    search: SearchConfig = SearchConfig()
    limits: LimitsConfig = LimitsConfig()
    ocr: OcrConfig = OcrConfig()

    @classmethod
    def from_mapping(cls, data: dict[str, Any], base_dir: Path) -> IndexerConfig:
        """Validates the indexer's sections of a parsed config file; others are left alone."""
        own = {key: value for key, value in data.items() if key not in FOREIGN_SECTIONS}
        config = validate_section(cls, own)
        return config.resolve_paths(base_dir)

    def resolve_paths(self, base_dir: Path) -> IndexerConfig:
        """Makes relative paths relative to ``base_dir`` (the config file's folder)."""

        def resolve(path: Path | None) -> Path | None:
            return None if path is None else (base_dir / path.expanduser()).resolve()

        model = self.model.model_copy(
            update={
                "checkpoint": resolve(self.model.checkpoint),
                "path": resolve(self.model.path),
                "cache_dir": resolve(self.model.cache_dir),
            }
        )
        storage = self.storage.model_copy(update={"data_dir": resolve(self.storage.data_dir)})
        index = self.index.model_copy(update={"milvus": self.index.milvus.resolve_paths(base_dir)})
        return self.model_copy(update={"model": model, "storage": storage, "index": index})


def config_path(argument: Path | None, environ: Mapping[str, str]) -> Path:
    """The config file to read: ``--config``, else ``$CLIP_SEARCH_CONFIG``, else ./config.toml."""
    if argument is not None:
        return argument
    return Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else DEFAULT_CONFIG_PATH


def read_toml(path: Path) -> dict[str, Any]:
    """Parses a TOML file, turning I/O and syntax errors into a ConfigError."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def validate_section(model: type[Section], data: dict[str, Any], prefix: str = "") -> Section:
    """Builds ``model`` from ``data``; errors name the dotted key, e.g. ``model.batch_size``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
            problems.append(f"{key}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


def load_indexer_config(path: Path | None) -> IndexerConfig:
    """Loads the indexer's configuration; without a file, the documented defaults apply."""
    if path is None:
        return IndexerConfig().resolve_paths(Path.cwd())
    return IndexerConfig.from_mapping(read_toml(path), path.resolve().parent)
