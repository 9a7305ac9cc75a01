"""Fixtures shared by the reliability tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.chroma_server import chroma_server


@pytest.fixture(scope="package")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One real ``chroma run`` server on 127.0.0.1 for the package: its URL and its data folder."""
    folder = tmp_path_factory.mktemp("chroma-server")
    with chroma_server(folder) as url:
        yield url, folder
