"""Every notebook in notebooks/ runs top to bottom, offline, in a fresh kernel, without an error.

The kernel is this interpreter (a kernelspec written for ``sys.executable``), so the notebooks see
exactly the packages the tests see, whatever kernels the machine has installed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest
from ipykernel import kernelspec

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
KERNEL = "agent-memory-tests"
EXPECTED = ["01_quickstart_core.ipynb", "02_langchain.ipynb", "03_llamaindex.ipynb", "04_inspect_and_evaluate.ipynb",
            "05_agent_managed_memory.ipynb"]


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A kernelspec for this interpreter, found first through JUPYTER_PATH, and an offline env."""
    root = tmp_path_factory.mktemp("jupyter")
    kernelspec.write_kernel_spec(str(root / "kernels" / KERNEL), overrides={"display_name": KERNEL})
    env = {
        "JUPYTER_PATH": str(root),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "ANONYMIZED_TELEMETRY": "False",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    src = str(Path(__file__).resolve().parents[2] / "src")  # this checkout's package, as in the tests
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def test_every_notebook_is_tested() -> None:
    assert sorted(path.name for path in NOTEBOOKS.glob("*.ipynb")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs(name: str, kernel_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in kernel_env.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    # One more cell, in memory only: which interpreter did the kernel run?
    notebook.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    client = nbclient.NotebookClient(
        notebook, timeout=240, kernel_name=KERNEL, allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError on the first cell that fails
    outputs = [output for cell in notebook.cells[:-1] if cell.cell_type == "code" for output in cell.outputs]
    assert outputs and not [o for o in outputs if o.output_type == "error"]
    assert [o for o in outputs if "text/html" in o.get("data", {})], "every notebook shows the inspector"
    ran = notebook.cells[-1].outputs[0].text.strip()
    assert Path(ran).resolve() == Path(sys.executable).resolve()
