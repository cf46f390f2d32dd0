"""The text tower in ONNX Runtime with int8 weights: a query's text encoded 2× faster on the
CPU than torch bf16, 8× under contention (XLM-R base, docs/BENCHMARKS.md "Text tower runtimes").

``model.text_runtime`` chooses:

* ``"torch"``: the text tower runs in torch at ``model.precision``, as the image tower does;
* ``"onnx-int8"``: the tower is exported once to ONNX (dynamic batch and length axes), its
  weights quantised to int8 by ONNX Runtime's dynamic quantisation (activations are quantised
  per call), and the file is cached under the model identity and a fingerprint of the weights,
  so a start after the first loads it in a second and a changed model never finds a stale file;
* ``"auto"`` (the default): ``"onnx-int8"`` on the CPU for text towers of at least
  :data:`AUTO_MIN_TEXT_WEIGHTS` weights, where it measured faster; smaller towers (the tiny
  test models) stay in torch, since an export would cost more than it saves.

Whatever goes wrong (onnxruntime or onnx not installed, an export or a load that fails), the
text tower runs in torch and one log line says why: the service and ``model check`` never fail
for want of the faster runtime. Pictures always run in torch (int8 measured level with bf16
for the image tower, docs/BENCHMARKS.md).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from indexer.config import ModelConfig
from indexer.model.loading import LoadedModel, first_line
from indexer.model.text_trim import can_trim_text, encode_text_prefix, trimmed_tokens

log = logging.getLogger(__name__)

#: Bumped when the exported graph changes, so files written by older code are not reused.
EXPORT_FORMAT = 1
#: ``"auto"`` takes int8 for text towers with at least this many weights. XLM-R base (the
#: default model, 278 M) gains ×2.0–8.3; the tiny test models would only pay the export.
AUTO_MIN_TEXT_WEIGHTS = 100_000_000
#: Intra-op threads of the query session (measured on 2 shared cores: 2 beat 1 by ×1.09 at
#: load 3 and ×1.32 at load 7).
QUERY_THREADS = 2
#: ONNX opset of the export (the dynamo exporter's own).
OPSET = 18
#: The most texts one call may hold (the exported batch axis's bound).
MAX_TEXTS = 4096


class OnnxTextEncoder:
    """Encodes tokens with an int8 text tower in ONNX Runtime; called as the torch encoders of
    :mod:`indexer.model.text_trim` are, ``(model, tokens) -> features`` (not normalised)."""

    def __init__(self, session: Any, file: Path) -> None:
        self._session = session
        #: The cached ONNX file the session runs.
        self.file = file

    def __call__(self, model: Any, tokens: torch.Tensor) -> torch.Tensor:
        """The features of ``tokens``; padding that changes no vector is cut off first."""
        ids = trimmed_tokens(model, tokens).cpu().numpy()
        features = self._session.run(None, {"tokens": ids})[0]
        return torch.from_numpy(features)


def text_weights(model: Any) -> int:
    """The number of weights of ``model``'s text tower (everything but the picture tower)."""
    return sum(p.numel() for name, p in model.named_parameters() if not _is_visual(name))


def wants_onnx(model: Any, config: ModelConfig) -> bool:
    """Whether ``config`` asks for the int8 text tower for ``model`` (see the module's doc)."""
    if config.text_runtime == "torch":
        return False
    on_cpu = torch.device(config.device).type == "cpu"
    if config.text_runtime == "auto":
        return on_cpu and text_weights(model) >= AUTO_MIN_TEXT_WEIGHTS
    if not on_cpu:
        log.warning(
            'model.text_runtime = "onnx-int8" runs on the CPU only; the text tower runs in '
            "torch on %s",
            config.device,
        )
    return on_cpu


def open_text_encoder(
    loaded: LoadedModel, identity: str, config: ModelConfig
) -> OnnxTextEncoder | None:
    """The int8 text encoder ``config`` asks for, or None for torch (with one log line why).

    The first start exports and quantises the tower (about 35 s for XLM-R base on two cores);
    later ones load the cached file.
    """
    if not wants_onnx(loaded.model, config):
        return None
    hint = 'model.text_runtime = "torch" keeps it there without this message'
    try:
        encoder = _cached_or_exported(loaded, identity, text_cache_folder(config))
    except ImportError as exc:
        log.warning(
            "the text tower runs in torch: %s is not installed "
            "(pip install onnxruntime onnx onnxscript); %s",
            exc.name or exc,
            hint,
        )
        return None
    except Exception as exc:
        log.warning(
            "the text tower runs in torch: its ONNX int8 export could not be used (%s); %s",
            first_line(exc),
            hint,
        )
        return None
    log.info("text tower: ONNX Runtime int8 from %s", encoder.file)
    return encoder


def _cached_or_exported(loaded: LoadedModel, identity: str, folder: Path) -> OnnxTextEncoder:
    """The encoder on the cached file, or on a fresh export when there is none or the cached
    one cannot be loaded (cut short, damaged): a bad file in the cache would otherwise leave
    the text tower in torch at every start, whatever the config asks."""
    file = text_tower_file(loaded.model, identity, folder)
    if file.is_file():
        import onnxruntime  # noqa: F401  (missing: ImportError, not a damaged file)

        try:
            return OnnxTextEncoder(text_session(file), file)
        except Exception as exc:
            log.warning(
                "the cached text tower %s cannot be loaded (%s): exporting it again",
                file,
                first_line(exc),
            )
            file.unlink(missing_ok=True)
    file = exported_text_tower(loaded, identity, folder)
    return OnnxTextEncoder(text_session(file), file)


def text_cache_folder(config: ModelConfig) -> Path:
    """Where exported text towers are kept: ``model.cache_dir``/text-onnx, else the user's cache
    (``$XDG_CACHE_HOME`` or ~/.cache)/clip-search-bot/text-onnx. Never inside a model folder:
    its manifest refuses files it does not list."""
    if config.cache_dir is not None:
        return config.cache_dir / "text-onnx"
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "clip-search-bot" / "text-onnx"


def exported_text_tower(loaded: LoadedModel, identity: str, folder: Path) -> Path:
    """The int8 ONNX file of ``loaded``'s text tower in ``folder``, exported if not there yet.

    The file's name holds the identity (for a person reading the folder) and a hash of the
    identity, a fingerprint of the text tower's weights and :data:`EXPORT_FORMAT`: a
    ``random-init`` identity names no fixed weights, and a file must never outlive the weights
    it was made from. The file appears whole or not at all (written beside, then renamed).
    """
    file = text_tower_file(loaded.model, identity, folder)
    if file.is_file():
        return file
    from onnxruntime.quantization import QuantType, quantize_dynamic

    log.info("exporting the text tower of %s to ONNX int8 once, into %s", identity, file)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".export-") as work:
        fp32, int8 = Path(work) / "fp32.onnx", Path(work) / "int8.onnx"
        with _exporters_quiet():
            _export(loaded, fp32)
            quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
        with int8.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(int8, file)
    return file


def text_tower_file(model: Any, identity: str, folder: Path) -> Path:
    """The cached file of ``model``'s text tower under ``identity`` (see
    :func:`exported_text_tower`), whether it exists or not."""
    key = f"{identity}\n{text_fingerprint(model)}\n{EXPORT_FORMAT}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return folder / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', identity)[:80]}-{digest}.int8.onnx"


def text_fingerprint(model: Any) -> str:
    """A hash of a strided sample (≤ ~1,000 values) of every text-tower weight: cheap (tens of
    ms for XLM-R base) and different for any other weights, random initialisations included."""
    digest = hashlib.sha256()
    for name, parameter in model.named_parameters():
        if _is_visual(name):
            continue
        flat = parameter.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // 1024)].float().cpu().numpy()
        digest.update(f"{name}{tuple(parameter.shape)}".encode())
        digest.update(sample.tobytes())
    return digest.hexdigest()


class _TextTower(torch.nn.Module):
    """The text tower as one module from tokens to features, for the export."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if can_trim_text(self.model):
            return encode_text_prefix(self.model, tokens)
        features: torch.Tensor = self.model.encode_text(tokens)
        return features


def _export(loaded: LoadedModel, file: Path) -> None:
    """Exports the text tower in float32 with dynamic batch and length axes.

    torch's dynamo exporter (onnxscript): the TorchScript one fixes open_clip's own towers'
    attention shapes to the example's batch. A bf16 model is exported from its weights widened
    to float32 and narrowed back after (bf16 → fp32 → bf16 is exact), so no copy is made.
    """
    model = loaded.model
    dtype = next(model.parameters()).dtype
    tokens = trimmed_tokens(model, loaded.tokenizer(["a photo of a dog", "一只猫"]))
    axes = {
        0: torch.export.Dim("texts", min=1, max=MAX_TEXTS),
        1: torch.export.Dim("length", min=2, max=loaded.tokenizer(["a"]).shape[1]),
    }
    try:
        model.float()
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _TextTower(model).eval(),
                (tokens,),
                str(file),
                input_names=["tokens"],
                output_names=["features"],
                dynamic_shapes={"tokens": axes},
                opset_version=OPSET,
                dynamo=True,
                verbose=False,
            )
    finally:
        model.to(dtype)


@contextmanager
def _exporters_quiet() -> Iterator[None]:
    """Keeps the exporter and the quantiser to their warnings and errors for the export's
    duration: at INFO they log a line per tensor (the quantiser on the root logger)."""
    import onnxruntime

    package = str(Path(onnxruntime.__file__).parent)

    def keep(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or not record.pathname.startswith(package)

    loggers = [logging.getLogger(name) for name in ("onnx_ir", "onnxscript", "torch.onnx")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    logging.root.addFilter(keep)
    try:
        yield
    finally:
        logging.root.removeFilter(keep)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def text_session(file: Path, threads: int = QUERY_THREADS) -> Any:
    """An ONNX Runtime session on ``file`` that shares the process with torch: ``threads``
    intra-op threads, none spinning after a call (spinning threads would take the cores from
    the picture calls that run in torch between queries)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])


def _is_visual(name: str) -> bool:
    return name.startswith("visual.") or name in ("logit_scale", "logit_bias")
