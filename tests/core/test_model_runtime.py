"""Where and on how many threads the default model runs: ``embedding_device``, ``query_threads``,
``index_threads`` (settings and environment), and the per-thread switch they rely on."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.indexes.devices import batch_size_for, resolve_device
from agent_memory_plugins.core.indexes.embeddings import SentenceTransformerEmbedder, resolve_embedder
from agent_memory_plugins.core.indexes.threads import cores, torch_threads
from agent_memory_plugins.errors import ConfigurationError
from agent_memory_plugins.settings import Settings


def _in_thread(work: Any) -> Any:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(work()))
    thread.start()
    thread.join()
    return result[0]


def test_thread_count_holds_for_the_calling_thread_while_another_thread_sets_its_own() -> None:
    entered, other_set, checked = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def query() -> None:
        with torch_threads(1):
            entered.set()
            other_set.wait(10)
            seen["inside"] = torch.get_num_threads()
            torch.ones(64, 64) @ torch.ones(64, 64)  # a parallel op does not re-initialise it
            seen["after_op"] = torch.get_num_threads()
        checked.set()

    thread = threading.Thread(target=query)
    thread.start()
    entered.wait(10)
    own = torch.get_num_threads()
    torch.set_num_threads(2)  # the "worker" sets its count meanwhile
    other_set.set()
    checked.wait(10)
    thread.join()
    torch.set_num_threads(own)
    assert seen == {"inside": 1, "after_op": 1}


def test_a_fresh_thread_gets_its_count_and_gets_its_own_back_afterwards() -> None:
    torch.set_num_threads(1)  # the process-wide seed a fresh thread would start from

    def work() -> tuple[int, int]:
        with torch_threads(2):
            inside = torch.get_num_threads()
        return inside, torch.get_num_threads()

    try:
        assert _in_thread(work) == (2, 1)
    finally:
        torch.set_num_threads(cores())


class _Recorder:
    """Wraps the real model and records the thread count each ``encode`` ran with."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls: list[tuple[int, int, int]] = []

    def encode(self, texts: list[str], **options: Any) -> Any:
        self.calls.append((len(texts), torch.get_num_threads(), options["batch_size"]))
        return self.model.encode(texts, **options)

    def __call__(self, features: dict[str, Any]) -> Any:  # one text: the model's modules, without encode
        self.calls.append((len(features["input_ids"]), torch.get_num_threads(), 0))
        return self.model(features)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def test_a_query_runs_on_query_threads_and_a_batch_on_index_threads_with_the_same_vectors() -> None:
    embedder = SentenceTransformerEmbedder(device="cpu", query_threads=1, index_threads=2, backend="torch")
    embedder.load()
    recorder = _Recorder(embedder._model)
    embedder._model = recorder
    texts = ["Caroline: I went to a support group yesterday.", "Melanie: That sounds brave of you."]
    batch = embedder.embed_array(texts)
    one = embedder.embed_query(texts[0])
    assert recorder.calls == [(2, 2, 64), (1, 1, 0)]
    assert np.allclose(batch[0], one, atol=1e-5)  # the thread count never changes a vector


def test_one_text_embeds_as_encode_does_without_its_batch_bookkeeping() -> None:
    embedder = SentenceTransformerEmbedder(device="cpu", backend="torch")
    embedder.load()
    model = embedder._model
    long_text = "word " * 600  # beyond the model's 256 tokens: truncated the same way
    for text in ("Caroline: I went to a support group yesterday.", long_text, "ünïcödé ✓", ""):
        expected = model.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]
        got = embedder.embed_query(text)
        assert got.dtype == np.float32 and got.shape == expected.shape
        assert np.allclose(got, expected, atol=1e-5), text[:20]


def test_thread_and_device_settings_come_from_keywords_and_the_environment() -> None:
    env = {"AGENT_MEMORY_QUERY_THREADS": "2", "AGENT_MEMORY_INDEX_THREADS": "none",
           "AGENT_MEMORY_EMBEDDING_DEVICE": "cpu", "AGENT_MEMORY_EMBEDDING_BATCH_SIZE": "32"}
    settings = Settings.from_env(environ=env)
    assert (settings.query_threads, settings.index_threads, settings.embedding_device,
            settings.embedding_batch_size) == (2, None, "cpu", 32)
    embedder = resolve_embedder(None, settings=settings)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert (embedder.query_threads, embedder.index_threads, embedder.device, embedder.batch_size) \
        == (2, cores(), "cpu", 32)
    assert Settings.from_env({"index_threads": 1}, environ={}).index_threads == 1
    for bad in ({"query_threads": 0}, {"index_threads": 0}, {"embedding_batch_size": -1},
                {"embedding_device": "gpu"}, {"embedding_device": "cuda:x"}):
        with pytest.raises(ConfigurationError, match=next(iter(bad))):
            Settings.from_env(bad, environ={})
    with pytest.raises(ConfigurationError, match="AGENT_MEMORY_QUERY_THREADS"):
        Settings.from_env(environ={"AGENT_MEMORY_QUERY_THREADS": "many"})


def test_auto_resolves_to_what_torch_sees_and_sets_the_batch_size() -> None:
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "mps"
                                      if torch.backends.mps.is_available() else "cpu")
    cuda = SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: True, device_count=lambda: 1),
                           backends=SimpleNamespace(mps=SimpleNamespace(is_available=lambda: False)))
    mps = SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: False, device_count=lambda: 0),
                          backends=SimpleNamespace(mps=SimpleNamespace(is_available=lambda: True)))
    assert resolve_device("auto", cuda) == "cuda" and resolve_device("cuda:0", cuda) == "cuda:0"
    assert resolve_device("auto", mps) == "mps" and resolve_device("mps", mps) == "mps"
    with pytest.raises(ConfigurationError, match="'cuda:1' but torch sees 1 CUDA device"):
        resolve_device("cuda:1", cuda)
    with pytest.raises(ConfigurationError, match="no MPS device"):
        resolve_device("mps", cuda)
    assert [batch_size_for(d) for d in ("cpu", "cuda:1", "mps")] == [64, 256, 128]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_a_gpu_that_is_not_there_is_refused_when_the_core_opens() -> None:
    with pytest.raises(ConfigurationError, match="embedding_device is 'cuda' but torch sees no CUDA device"):
        MemoryCore(embedding_device="cuda")


@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_the_default_model_embeds_and_searches_on_auto_and_cpu(device: str) -> None:
    with MemoryCore(embedding_device=device, background=False) as core:
        core.add_messages("s1", [{"role": "user", "content": "My cat Miso is afraid of the vacuum."},
                                 {"role": "assistant", "content": "Poor Miso! Maybe run it while she is out."}],
                          user_id="ana")
        core.flush()
        hits = core.search("what scares the cat", user_id="ana", k=1)
        assert hits and "Miso" in hits[0].record.text
        inner = core.embedder.inner
        assert isinstance(inner, SentenceTransformerEmbedder)
        assert inner.device == resolve_device(device)
