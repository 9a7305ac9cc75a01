"""Translation of the core's search hits into LlamaIndex nodes."""

from __future__ import annotations

from llama_index.core.schema import NodeWithScore, TextNode

from ..records import Hit

__all__ = ["LLM_METADATA_KEYS", "to_node"]

LLM_METADATA_KEYS = ("role", "kind", "timestamp")
"""Metadata a language model sees next to a recalled memory; the rest is for the application."""


def to_node(hit: Hit) -> NodeWithScore:
    """A hit as a scored ``TextNode`` whose id is the record id and whose metadata explains it."""
    record = hit.record
    metadata = {
        "memory_id": record.id,
        "role": record.role,
        "kind": record.kind,
        "timestamp": record.timestamp.isoformat(),
        "user_id": record.user_id,
        "session_id": record.session_id,
        "agent_id": record.agent_id,
        "importance": record.importance,
        "explanation": dict(hit.explain),
        "record_metadata": dict(record.metadata),
    }
    hidden = [key for key in metadata if key not in LLM_METADATA_KEYS]
    node = TextNode(
        id_=record.id,
        text=record.text,
        metadata=metadata,
        excluded_llm_metadata_keys=hidden,
        excluded_embed_metadata_keys=list(metadata),
    )
    return NodeWithScore(node=node, score=hit.score)
