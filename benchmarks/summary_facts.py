"""How many planted facts the offline summarizer keeps within its token budget, on LoCoMo.

    python benchmarks/summary_facts.py --data ../shared/data/locomo-dev.json

Each LoCoMo session is folded the way the core folds a session whose messages leave the window:
in batches of ``fold_batch`` (10) messages, each fold handed the previous summary, within
``summary_tokens`` (400, the defaults). The planted facts of a session are the names (capitalised
words that do not open a sentence, speakers' own names aside), numbers and date words of its
turns; the figure is the share of them that the final summary still contains (micro-average over
sessions), with the summary's mean size in tokens. Run it with ``PYTHONPATH`` pointing at another
checkout to measure that version's summarizer.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agent_memory_plugins.core.conversation.summarizer import ExtractiveSummarizer
from agent_memory_plugins.core.conversation.tokens import resolve_token_counter
from agent_memory_plugins.importers import locomo_sessions
from agent_memory_plugins.records import MemoryRecord
from agent_memory_plugins.settings import Settings

NUMBER = re.compile(r"\d+(?:[.:,]\d+)*")
NAME = re.compile(r"(?<![.!?]\s)(?<!^)(?<!\n)\b[A-Z][a-z]{2,}\b")
DATE_WORDS = re.compile(
    r"\b(january|february|march|april|may|june|july|august|september|october|november|december|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|tomorrow|tonight|weekend|"
    r"last (?:week|month|year)|next (?:week|month|year))\b",
    re.IGNORECASE,
)
NOT_NAMES = {"The", "This", "That", "What", "When", "Where", "How", "Why", "And", "But", "Yes", "Wow", "Thanks",
             "Hey", "Hi", "Hello", "Oh", "Sounds", "That's", "It's", "I'm", "Congrats", "Awesome", "Great"}


def planted(text: str, speakers: set[str]) -> set[str]:
    """The facts of one turn's text (its "Speaker: " prefix removed), lower-cased."""
    body = text.split(": ", 1)[1] if ": " in text else text
    found = {m.group(0) for m in NUMBER.finditer(body)}
    found |= {m.group(0) for m in NAME.finditer(body) if m.group(0) not in NOT_NAMES and m.group(0) not in speakers}
    found |= {m.group(0) for m in DATE_WORDS.finditer(body)}
    return {fact.lower() for fact in found}


def kept(fact: str, summary: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(fact)}(?![\w])", summary, re.IGNORECASE) is not None


def record(message: dict[str, Any], session: str) -> MemoryRecord:
    when = datetime.fromtimestamp(float(message["timestamp"]), tz=timezone.utc)
    return MemoryRecord(
        id=uuid.uuid4().hex, text=message["content"], role=message["role"], kind="message", user_id="u",
        session_id=session, timestamp=when, created_at=when, importance=0.5, metadata=message["metadata"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="LoCoMo JSON file")
    parser.add_argument("--show", type=int, default=0, help="print this many example summaries")
    args = parser.parse_args()
    conversations = json.loads(Path(args.data).read_text(encoding="utf-8"))
    settings = Settings()
    count = resolve_token_counter(None)
    summarizer = ExtractiveSummarizer(count)
    total = found = sessions = tokens = 0
    started = time.perf_counter()
    shown = 0
    for conversation in conversations:
        body = conversation.get("conversation", conversation)
        speakers = {body.get("speaker_a", ""), body.get("speaker_b", "")}
        for session, messages in locomo_sessions(conversation):
            records = [record(message, session) for message in messages]
            summary = ""
            for start in range(0, len(records), settings.fold_batch):
                summary = summarizer.summarize(summary, records[start:start + settings.fold_batch],
                                               settings.summary_tokens).strip()
            facts = set().union(*(planted(r.text, speakers) for r in records)) if records else set()
            total += len(facts)
            found += sum(1 for fact in facts if kept(fact, summary))
            sessions += 1
            tokens += count(summary)
            if shown < args.show:
                shown += 1
                print(f"--- {conversation.get('sample_id')} {session} ({count(summary)} tokens)\n{summary}\n")
    seconds = time.perf_counter() - started
    print(f"sessions {sessions}, planted facts {total}, kept {found}: share {found / max(total, 1):.3f}; "
          f"mean summary {tokens / max(sessions, 1):.0f} tokens (budget {settings.summary_tokens}); {seconds:.1f} s")


if __name__ == "__main__":
    main()
