"""The default embedding model on the CPU through ONNX Runtime, exported once from sentence-transformers.

Why: on the CPU, ONNX Runtime embeds the same texts to the same vectors (cosine >= 0.99999 to
``SentenceTransformer.encode``, checked at export) and is cheaper in the two places that matter:

- **bulk import**: its arena allocator reuses its own blocks, so the heap scrub (``heap.py``: glibc
  fills every ``malloc``'d and freed block) costs it nothing, while PyTorch allocates and frees its
  activations on every forward pass and runs about a quarter slower with the scrub on;
- **a search's query**: one short text takes about 6 ms on one thread instead of about 17 ms.

A model is supported when it is a folder on disk (the packaged all-MiniLM-L6-v2 is) holding a
sentence-transformers model of exactly a Transformer with a fast tokenizer, a Pooling of mean or
CLS tokens, and optionally Normalize, with no default prompt and no truncated dimension. Anything
else raises :class:`UnsupportedModel` and the embedder runs the model with PyTorch.

The export (about 10 s: PyTorch loads the model, ``torch.onnx`` traces it) happens once per model
and version and lands in ``$AGENT_MEMORY_MODEL_CACHE`` (default ``$XDG_CACHE_HOME/agent-memory-plugins``,
else ``~/.cache/agent-memory-plugins``), in a folder named by a digest of the model's files and the
exporter's versions. Processes that export at once each write a folder of their own and rename it
into place; the first rename wins and the others use it. A folder that cannot be read (cut short,
edited) is moved aside and exported again. When the cache cannot be written, the export goes to a
temporary folder removed at exit.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Array = npt.NDArray[np.float32]

FORMAT = 1
"""Version of the exported folder's layout and graph; a change exports again."""
OPSET = 17
CACHE_ENV = "AGENT_MEMORY_MODEL_CACHE"
BATCH_SIZE = 32
"""Texts per run when ``embedding_batch_size`` is not set: 2,000 LoCoMo turns sorted by length
took 10.6 to 11.4 s in batches of 16 or 32, 11.4 to 11.9 s in 64 and 12.8 to 13.1 s in 128 (two
threads, heap scrub on)."""
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
POOLING = ("mean", "cls")
MIN_COSINE = 0.99999
"""Lowest cosine between an exported vector and sentence-transformers' own, at export."""
CHECK_TEXTS = (
    "My sister Lena lives in Porto.",
    "  When did Caroline go to the support group?  ",
    "",
    "Ünïcode, emoji 🎉 and 中文 in one line",
    "a long reply " * 200,  # longer than the model reads: checks truncation
)


class UnsupportedModel(Exception):
    """The model cannot run through ONNX Runtime here (the message says why)."""


def cache_root() -> Path:
    """Where exported models are kept (see the module docstring)."""
    configured = os.environ.get(CACHE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".cache") / "agent-memory-plugins"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"format": str(FORMAT), "opset": str(OPSET)}
    for package in ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime", "tokenizers"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "absent"
    return found


def model_key(folder: Path) -> str:
    """A digest of ``folder``'s files (paths, sizes, modification times) and the exporter's
    versions: a changed model or toolchain is exported again."""
    digest = hashlib.sha256(json.dumps(_versions(), sort_keys=True).encode())
    digest.update(str(folder.resolve()).encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"\0{path.relative_to(folder)}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


class OnnxModel:
    """An exported model: its tokenizer and one ONNX Runtime session per thread count.

    ``encode`` embeds texts in batches sorted by token count (little padding); ``embed_one`` one
    text without padding. Both return normalised float32 vectors. Sessions are thread-safe and made
    on first use of a thread count. A session with several threads lets them spin briefly between
    operators, as ONNX Runtime does by default (2,000 LoCoMo turns on two threads: 8.0 to 8.3 s,
    against 8.6 to 9.0 s when they sleep at once); a one-thread session, a search's, has no pool.
    """

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        self.folder = folder
        self.meta: dict[str, Any] = json.loads((folder / "meta.json").read_text())
        if self.meta.get("format") != FORMAT:
            raise ValueError(f"{folder} holds format {self.meta.get('format')!r}, not {FORMAT}")
        self.dimension = int(self.meta["dimension"])
        self.inputs = list(self.meta["inputs"])
        self.pad_id = int(self.meta["pad_id"])
        self.lowercase = bool(self.meta["lowercase"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()  # tokenizer.json may pad to a fixed length; batches pad themselves
        self.tokenizer.enable_truncation(int(self.meta["max_length"]))
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()
        self.session(1)  # fails now on a damaged graph, not at the first search

    def session(self, threads: int) -> Any:
        """The ONNX Runtime session running on ``threads`` CPU threads (made on first use)."""
        with self._lock:
            if threads not in self._sessions:
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                options.enable_mem_pattern = False  # shapes change with every batch
                options.log_severity_level = 3
                self._sessions[threads] = ort.InferenceSession(
                    str(self.folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
            return self._sessions[threads]

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        prepared = [text.lower() for text in texts] if self.lowercase else list(texts)
        # One by one: as fast as encode_batch here, and no thread pool of the tokenizer's own (it
        # would compete with the sessions' threads, and warns in processes that fork after it ran).
        return [self.tokenizer.encode(text).ids for text in prepared]

    def _run(self, rows: list[list[int]], threads: int) -> Array:
        width = max(len(row) for row in rows)
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
            mask[i, :len(row)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        output = self.session(threads).run(None, {name: feeds[name] for name in self.inputs})[0]
        return np.asarray(output, dtype=np.float32)

    def encode(self, texts: Sequence[str], batch_size: int, threads: int) -> Array:
        """Normalised vectors of ``texts`` (one row each, in order), ``batch_size`` texts per run."""
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return vectors
        rows = self._ids(texts)
        order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            vectors[chosen] = self._run([rows[i] for i in chosen], threads)
        return vectors

    def embed_one(self, text: str, threads: int) -> Array:
        """The normalised vector of one text (a 1 x dimension matrix)."""
        return self._run(self._ids([text]), threads)


def model_folder(name: str) -> Path:
    """The folder of model ``name``: the packaged all-MiniLM-L6-v2, or a local folder; else
    :class:`UnsupportedModel` (a hub name is run by sentence-transformers)."""
    from .embeddings import _model_location

    location = Path(_model_location(name)).expanduser()
    if not (location / "modules.json").is_file():
        raise UnsupportedModel(f"{name!r} is not a sentence-transformers folder on disk")
    return location


_MODELS: dict[Path, OnnxModel] = {}
_MODELS_LOCK = threading.Lock()
_FAILED: dict[Path, UnsupportedModel] = {}
_FOLDER_LOCKS: dict[Path, threading.Lock] = {}


def loaded(name: str) -> bool:
    """Whether model ``name`` is exported and in memory in this process (never waits: the write
    path asks it while an export may be running)."""
    try:
        folder = model_folder(name)
    except UnsupportedModel:
        return False
    return folder in _MODELS


def load(name: str) -> OnnxModel:
    """The exported model for ``name``: from the cache, else exported now (once per process and
    model); :class:`UnsupportedModel` when it cannot run through ONNX Runtime."""
    missing = [package for package in ("onnxruntime", "tokenizers") if importlib.util.find_spec(package) is None]
    if missing:
        raise UnsupportedModel(f"{' and '.join(missing)} not installed")
    folder = model_folder(name)
    with _MODELS_LOCK:
        lock = _FOLDER_LOCKS.setdefault(folder, threading.Lock())
    with lock:  # one export per model at a time; other models and `loaded` do not wait for it
        if folder in _MODELS:
            return _MODELS[folder]
        if folder in _FAILED:  # tried in this process already: not again for every store
            raise _FAILED[folder]
        try:
            model = _cached(folder)
        except UnsupportedModel as error:
            _FAILED[folder] = error
            raise
        except Exception as error:
            log.warning("exporting %s to ONNX failed", folder, exc_info=True)
            _FAILED[folder] = UnsupportedModel(f"its export failed: {error}")
            raise _FAILED[folder] from error
        _MODELS[folder] = model
        return model


def _cached(folder: Path) -> OnnxModel:
    root = cache_root()
    name = f"onnx-{model_key(folder)}"
    target = root / name
    if target.is_dir():  # read first: a cache baked into a read-only image is used as it is
        try:
            return OnnxModel(target)
        except Exception as error:
            log.warning("exported model in %s cannot be read (%s); exporting it again", target, error)
            aside = root / f".damaged-{uuid.uuid4().hex}"
            with contextlib.suppress(OSError):
                target.rename(aside)
            shutil.rmtree(aside, ignore_errors=True)
    if not _writable(root):
        log.info("model cache %s cannot be written; exporting to a temporary folder", root)
        root = Path(tempfile.mkdtemp(prefix="amp-onnx-"))
        atexit.register(shutil.rmtree, root, True)
        target = root / name
    staging = root / f".export-{uuid.uuid4().hex}"
    log.info("exporting %s to ONNX into %s (once per model and library version, about 10 s)", folder, target)
    try:
        export(folder, staging)
        try:
            staging.rename(target)
        except OSError:  # another process put its export there first
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return OnnxModel(target)


def _writable(root: Path) -> bool:
    """Whether exports can be written under ``root`` (made when missing)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        return False
    return True


def export(folder: Path, target: Path) -> None:
    """Export the sentence-transformers model in ``folder`` to ``target`` (graph, tokenizer, meta)
    and check that it gives the model's own vectors; :class:`UnsupportedModel` when it cannot."""
    import warnings

    import torch
    from sentence_transformers import SentenceTransformer

    from .embeddings import _quiet_loading

    with _quiet_loading():
        model = SentenceTransformer(str(folder), device="cpu")
    transformer, pooling = _parts(model)
    network = transformer.auto_model.eval()
    with contextlib.suppress(Exception):  # plain attention traces to a graph ONNX Runtime fuses
        network.set_attn_implementation("eager")
    tokenizer = transformer.tokenizer
    inputs = [name for name in INPUTS if name in getattr(tokenizer, "model_input_names", INPUTS)]
    if inputs[:2] != ["input_ids", "attention_mask"]:
        raise UnsupportedModel(f"the tokenizer's inputs are {inputs}, not input_ids and attention_mask")
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise UnsupportedModel("the model has no fast tokenizer")
    max_length = model.max_seq_length
    if not max_length:
        raise UnsupportedModel("the model states no maximum sequence length")
    target.mkdir(parents=True)
    backend.save(str(target / "tokenizer.json"))
    meta = {"format": FORMAT, "inputs": inputs, "pad_id": int(tokenizer.pad_token_id or 0),
            "max_length": int(max_length), "lowercase": bool(getattr(transformer, "do_lower_case", False)),
            "dimension": int(_dimension(model)), "pooling": pooling}
    sample = torch.ones((2, 8), dtype=torch.long)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                _pooled(network, pooling, inputs), tuple(sample for _ in inputs), str(target / "model.onnx"),
                input_names=inputs, output_names=["embedding"], opset_version=OPSET, dynamo=False,
                dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in inputs}, "embedding": {0: "batch"}},
            )
        except Exception as error:
            raise UnsupportedModel(f"torch.onnx could not export it: {error}") from error
    (target / "meta.json").write_text(json.dumps(meta, indent=2))
    exported = OnnxModel(target).encode(CHECK_TEXTS, 8, 1)
    expected = model.encode(list(CHECK_TEXTS), normalize_embeddings=True, convert_to_numpy=True,
                            show_progress_bar=False)
    worst = float(np.min(np.sum(exported * np.asarray(expected, dtype=np.float32), axis=1)))
    if worst < MIN_COSINE:
        raise UnsupportedModel(f"its exported vectors differ from sentence-transformers' (cosine {worst:.6f})")


def _dimension(model: Any) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter() or 0)  # renamed in sentence-transformers 6


def _parts(model: Any) -> tuple[Any, str]:
    """The model's Transformer and pooling mode, when it is of the supported shape."""
    from sentence_transformers.models import Normalize, Pooling, Transformer

    modules = list(model)
    if getattr(model, "default_prompt_name", None) is not None or getattr(model, "truncate_dim", None) is not None:
        raise UnsupportedModel("the model has a default prompt or a truncated dimension")
    kinds = [type(module) for module in modules]
    if kinds not in ([Transformer, Pooling], [Transformer, Pooling, Normalize]):
        raise UnsupportedModel(f"its modules are {[kind.__name__ for kind in kinds]}, "
                               "not Transformer, Pooling (and Normalize)")
    mode = getattr(modules[1], "pooling_mode", None)  # sentence-transformers >= 6
    if not isinstance(mode, str):
        mode = str(modules[1].get_pooling_mode_str())
    if mode not in POOLING:
        raise UnsupportedModel(f"its pooling is {mode!r}, not one of {', '.join(POOLING)}")
    return modules[0], mode


def _pooled(network: Any, pooling: str, inputs: list[str]) -> Any:
    """The transformer, its pooling and L2 normalisation as one traceable ``torch.nn.Module``
    (defined here: torch is imported only when a model is exported)."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            features = dict(zip(inputs, tensors, strict=True))
            states = self.network(**features).last_hidden_state
            if pooling == "cls":
                pooled = states[:, 0]
            else:
                mask = features["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return Pooled()
