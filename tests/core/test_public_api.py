"""The package's public surface: a flat __all__, lazy imports, an error tree."""

from __future__ import annotations

import json
import subprocess
import sys

import agent_memory_plugins
from agent_memory_plugins import errors


def test_public_names_are_exported_and_documented() -> None:
    assert sorted(agent_memory_plugins.__all__) == sorted(set(agent_memory_plugins.__all__))
    for name in agent_memory_plugins.__all__:
        value = getattr(agent_memory_plugins, name)
        if name != "__version__":
            assert value.__doc__, name


def test_every_error_descends_from_agent_memory_error() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.AgentMemoryError)
    assert "MemoryError" not in errors.__all__


def test_import_is_lazy() -> None:
    code = (
        "import sys, json, agent_memory_plugins;"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'chromadb', 'langchain', 'langchain_core', 'llama_index', 'sentence_transformers'))))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                       check=True).stdout)
    assert loaded == []


def test_missing_extra_names_the_install_command() -> None:
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('langchain_core', 'langchain', 'langchain_classic', "
        "'llama_index', 'langgraph', 'fastapi', 'uvicorn'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "for module in ('agent_memory_plugins.langchain', 'agent_memory_plugins.llama_index', "
        "'agent_memory_plugins.server'):\n"
        "    try:\n"
        "        __import__(module)\n"
        "    except ImportError as error:\n"
        "        print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'agent-memory-plugins[langchain]'" in result.stdout
    assert "pip install 'agent-memory-plugins[llama-index]'" in result.stdout
    assert "agent_memory_plugins.server needs fastapi, uvicorn: pip install 'agent-memory-plugins[server]'" \
        in result.stdout
