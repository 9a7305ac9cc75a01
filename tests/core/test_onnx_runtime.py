"""The default model through ONNX Runtime (``embedding_backend``): the same vectors as
sentence-transformers, exported once into the model cache, reused by the next process, exported
again when damaged, and PyTorch for what it cannot run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer
from sentence_transformers.models import Dense, Pooling, Transformer

from agent_memory_plugins import MemoryCore
from agent_memory_plugins.core.indexes import onnx_model
from agent_memory_plugins.core.indexes.devices import cpu_only_torch
from agent_memory_plugins.core.indexes.embeddings import SentenceTransformerEmbedder, _model_location, resolve_embedder
from agent_memory_plugins.errors import ConfigurationError
from agent_memory_plugins.settings import Settings

pytestmark = pytest.mark.any_engine

TEXTS = ["Caroline: I went to a support group yesterday.", "  Melanie: That sounds brave of you.  ",
         "ünïcödé ✓ 中文", "", "word " * 600]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty model cache, and no exported model in memory."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(onnx_model.CACHE_ENV, str(folder))
    monkeypatch.setattr(onnx_model, "_MODELS", {})
    monkeypatch.setattr(onnx_model, "_FAILED", {})
    return folder


def _torch_vectors(texts: list[str]) -> np.ndarray:
    embedder = SentenceTransformerEmbedder(device="cpu", backend="torch")
    return np.stack([embedder.embed_query(text) for text in texts] + list(embedder.embed_array(texts)))


def test_the_default_model_runs_on_onnx_runtime_with_sentence_transformers_vectors() -> None:
    embedder = SentenceTransformerEmbedder(device="cpu")
    one_by_one = [embedder.embed_query(text) for text in TEXTS]
    batch = embedder.embed_array(TEXTS)
    assert embedder.runtime == "onnxruntime" and batch.dtype == np.float32 and batch.shape == (len(TEXTS), 384)
    expected = _torch_vectors(TEXTS)
    got = np.stack(one_by_one + list(batch))
    assert np.allclose(got, expected, atol=1e-5)  # long text truncated, spaces, empty text: all alike


def test_the_torch_backend_runs_sentence_transformers() -> None:
    embedder = resolve_embedder(None, settings=Settings(embedding_backend="torch"))
    assert isinstance(embedder, SentenceTransformerEmbedder)
    embedder.embed_query("hello")
    assert embedder.runtime == "torch"


def test_the_export_is_cached_and_the_next_process_loads_it_without_pytorch(cache: Path) -> None:
    first = SentenceTransformerEmbedder(device="cpu").embed_array(TEXTS[:2])
    [exported] = cache.iterdir()
    assert {p.name for p in exported.iterdir()} == {"model.onnx", "tokenizer.json", "meta.json"}
    child = (
        "import json, sys\n"
        "from agent_memory_plugins.core.indexes import onnx_model\n"
        "model = onnx_model.load('all-MiniLM-L6-v2')\n"
        f"vectors = model.encode({TEXTS[:2]!r}, 64, 1)\n"
        "print(json.dumps({'folder': str(model.folder), 'vectors': vectors.tolist(),\n"
        "                  'torch': 'torch' in sys.modules, 'st': 'sentence_transformers' in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True,
                          env={**os.environ, onnx_model.CACHE_ENV: str(cache)}, timeout=120)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["folder"] == str(exported) and not seen["torch"] and not seen["st"]
    assert np.allclose(np.array(seen["vectors"]), first, atol=1e-6)
    assert [p.name for p in cache.iterdir()] == [exported.name]  # nothing exported twice, no leftovers


def test_a_damaged_export_is_exported_again(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = SentenceTransformerEmbedder(device="cpu").embed_array(TEXTS[:2])
    [exported] = cache.iterdir()
    graph = exported / "model.onnx"
    graph.write_bytes(graph.read_bytes()[:1000])  # cut short, as by a full disk
    monkeypatch.setattr(onnx_model, "_MODELS", {})
    again = SentenceTransformerEmbedder(device="cpu")
    assert np.allclose(again.embed_array(TEXTS[:2]), expected, atol=1e-6)
    assert again.runtime == "onnxruntime"
    assert [p.name for p in cache.iterdir()] == [exported.name]


def test_a_cache_that_cannot_be_written_exports_to_a_temporary_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(onnx_model.CACHE_ENV, str(blocker / "cache"))
    monkeypatch.setattr(onnx_model, "_MODELS", {})
    embedder = SentenceTransformerEmbedder(device="cpu")
    assert embedder.embed_query("hello").shape == (384,) and embedder.runtime == "onnxruntime"
    assert blocker.read_text() == "not a folder"


def test_an_export_in_a_cache_that_cannot_be_written_is_still_used(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    SentenceTransformerEmbedder(device="cpu").load()
    [exported] = cache.iterdir()
    monkeypatch.setattr(onnx_model, "_MODELS", {})
    monkeypatch.setattr(onnx_model, "_writable", lambda root: False)  # as a read-only image's cache
    monkeypatch.setattr(onnx_model, "export", lambda folder, target: pytest.fail("exported again"))
    assert onnx_model.load("all-MiniLM-L6-v2").folder == exported


def _saved(folder: Path, modules: list[object]) -> str:
    SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    return str(folder)


def test_cls_pooling_is_exported_too(cache: Path, tmp_path: Path) -> None:
    base = _model_location("all-MiniLM-L6-v2")
    name = _saved(tmp_path / "cls-model", [Transformer(base), Pooling(384, pooling_mode="cls")])
    onnx = SentenceTransformerEmbedder(name, device="cpu")
    reference = SentenceTransformerEmbedder(name, device="cpu", backend="torch")
    assert np.allclose(onnx.embed_array(TEXTS), reference.embed_array(TEXTS), atol=1e-5)
    assert onnx.runtime == "onnxruntime"


def test_a_model_onnx_runtime_cannot_run_falls_back_to_torch_or_is_refused(cache: Path, tmp_path: Path) -> None:
    base = _model_location("all-MiniLM-L6-v2")
    name = _saved(tmp_path / "dense-model", [Transformer(base), Pooling(384), Dense(384, 32)])
    auto = SentenceTransformerEmbedder(name, device="cpu")
    assert auto.embed_query("hello").shape == (32,) and auto.runtime == "torch"
    with pytest.raises(ConfigurationError, match=r"embedding_backend is .onnx. but .* cannot run through ONNX Runtime"):
        SentenceTransformerEmbedder(name, device="cpu", backend="onnx").embed_query("hello")
    assert not cache.exists() or not list(cache.iterdir())  # no half-written export left behind
    with pytest.raises(ConfigurationError, match="embedding_backend is 'onnx' but 'nowhere/no-model'"):
        SentenceTransformerEmbedder("nowhere/no-model", backend="onnx").embed_query("hello")


def test_the_backend_setting_is_checked_and_read_from_the_environment() -> None:
    settings = Settings.from_env(environ={"AGENT_MEMORY_EMBEDDING_BACKEND": "torch"})
    assert settings.embedding_backend == "torch"
    embedder = resolve_embedder(None, settings=settings)
    assert isinstance(embedder, SentenceTransformerEmbedder) and embedder.backend == "torch"
    with pytest.raises(ConfigurationError, match="embedding_backend must be one of auto, onnx, torch, got 'tf'"):
        Settings(embedding_backend="tf").validate()
    with pytest.raises(ConfigurationError, match="embedding_backend 'onnx' runs on the CPU, but embedding_device"):
        MemoryCore(embedding_backend="onnx", embedding_device="cuda")


def test_a_store_searches_with_either_backend_alike(tmp_path: Path) -> None:
    found = {}
    for backend in ("onnx", "torch"):
        with MemoryCore(tmp_path / backend, embedding_backend=backend) as memory:
            memory.add_messages("s1", [{"role": "user", "content": "My sister Lena lives in Porto."},
                                       {"role": "user", "content": "I bought a red bicycle on Sunday."}],
                                user_id="alice")
            memory.flush()
            found[backend] = [(hit.record.text, round(hit.score, 4))
                              for hit in memory.search("where does Lena live?", user_id="alice", k=2)]
    assert found["onnx"] == found["torch"] and found["onnx"][0][0] == "My sister Lena lives in Porto."


FIRST_USE = """
import json, sys
from agent_memory_plugins import MemoryCore
with MemoryCore() as memory:
    memory.add_message("s1", "user", "My sister Lena lives in Porto.", user_id="alice")
    memory.flush()
    hit = memory.search("where does Lena live?", user_id="alice")[0]
print(json.dumps({"text": hit.record.text, "dense": "dense_rank" in hit.explain, "torch": "torch" in sys.modules}))
"""


@pytest.mark.skipif(not cpu_only_torch(), reason="a torch build that may see a GPU is imported to ask it")
def test_a_fresh_process_embeds_and_searches_without_importing_pytorch() -> None:
    SentenceTransformerEmbedder(device="cpu").load()  # the export is in the cache
    done = subprocess.run([sys.executable, "-c", FIRST_USE], capture_output=True, text=True, check=True,
                          timeout=120)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"text": "My sister Lena lives in Porto.", "dense": True, "torch": False}


def test_batches_default_to_onnx_runtimes_size_unless_one_is_set() -> None:
    default = SentenceTransformerEmbedder(device="cpu")
    default.load()
    assert default.batch_size == onnx_model.BATCH_SIZE
    assert SentenceTransformerEmbedder(device="cpu", batch_size=8).batch_size == 8


def test_without_onnxruntime_auto_runs_on_torch_and_onnx_says_what_is_missing(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "onnxruntime" else real(name, *args))
    auto = SentenceTransformerEmbedder(device="cpu")
    assert auto.embed_query("hello").shape == (384,) and auto.runtime == "torch"
    with pytest.raises(ConfigurationError, match="onnxruntime not installed"):
        SentenceTransformerEmbedder(backend="onnx").embed_query("hello")


def test_an_export_that_fails_its_check_leaves_nothing_and_torch_runs_the_model(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_model, "MIN_COSINE", 1.01)  # no export can pass: as if it gave other vectors
    auto = SentenceTransformerEmbedder(device="cpu")
    assert auto.embed_query("hello").shape == (384,) and auto.runtime == "torch"
    assert [p.name for p in cache.iterdir()] == []  # the staging folder is gone, nothing was kept
    with pytest.raises(ConfigurationError, match="differ from sentence-transformers'"):
        SentenceTransformerEmbedder(backend="onnx").embed_query("hello")  # remembered: not exported again


def test_an_export_that_breaks_falls_back_to_torch_and_onnx_says_why(
        cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(folder: Path, target: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(onnx_model, "export", full_disk)
    auto = SentenceTransformerEmbedder(device="cpu")
    assert auto.embed_query("hello").shape == (384,) and auto.runtime == "torch"
    with pytest.raises(ConfigurationError, match=r"its export failed: .*No space left on device"):
        SentenceTransformerEmbedder(backend="onnx").embed_query("hello")
