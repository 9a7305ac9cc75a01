"""Reading conversations from files: JSONL messages and LoCoMo-style JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from .errors import InvalidInputError

__all__ = ["import_file", "locomo_sessions", "parse_locomo_date", "read_messages"]


def parse_locomo_date(text: str) -> datetime:
    """Parse LoCoMo's session dates, e.g. ``"1:56 pm on 8 May, 2023"`` (read as UTC)."""
    try:
        moment = datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y")
    except ValueError:
        raise InvalidInputError(f"unrecognised LoCoMo date {text!r}") from None
    return moment.replace(tzinfo=timezone.utc)


def locomo_sessions(conversation: dict[str, Any]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Yield ``(session_id, messages)`` of one LoCoMo conversation, sessions in order.

    Each turn becomes one message ``"Speaker: text"`` (plus the image caption when the turn shared
    an image), timestamped with its session's date, with ``dia_id`` and ``speaker`` in metadata.
    """
    body = conversation.get("conversation", conversation)
    numbers = sorted(
        int(key.split("_")[1]) for key in body
        if key.startswith("session_") and key.count("_") == 1 and isinstance(body[key], list)
    )
    for number in numbers:
        date = parse_locomo_date(body[f"session_{number}_date_time"])
        messages = []
        for position, turn in enumerate(body[f"session_{number}"]):
            text = f"{turn['speaker']}: {turn['text']}"
            if turn.get("blip_caption"):
                text += f" [shared an image: {turn['blip_caption']}]"
            role = "user" if turn["speaker"] == body.get("speaker_a") else "assistant"
            messages.append({
                "role": role, "content": text,
                "timestamp": date.timestamp() + position,  # keep the turns in order within a session
                "metadata": {"dia_id": turn["dia_id"], "speaker": turn["speaker"]},
            })
        yield f"session_{number}", messages


def read_messages(path: str, default_user: str = "default") -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    """Yield ``(user_id, session_id, messages)`` batches from JSONL or LoCoMo-style JSON.

    JSONL: one object per line with ``session_id``, ``role``, ``content`` and optional ``user_id``,
    ``timestamp``, ``metadata``. LoCoMo: a list of conversations; each becomes the user
    ``sample_id`` unless a user was named.
    """
    try:
        yield from _read(path, default_user)
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path} is not UTF-8 text") from None


def _read(path: str, default_user: str) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    with open(path, encoding="utf-8") as handle:
        first = handle.read(1)
        while first.isspace():
            first = handle.read(1)
        handle.seek(0)
        if first == "[":
            try:
                data = json.load(handle)
                batches: list[tuple[str, str, list[dict[str, Any]]]] = []
                for conversation in data:
                    user = conversation.get("sample_id", default_user) if default_user == "default" else default_user
                    sessions = locomo_sessions(conversation)
                    batches.extend((str(user), session, messages) for session, messages in sessions)
            except (ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
                raise InvalidInputError(f"{path} is not a LoCoMo-style JSON file ({error!r})") from None
            yield from batches
            return
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as error:
                raise InvalidInputError(f"{path}:{number}: not JSON ({error.msg})") from None
            if not isinstance(item, dict) or "session_id" not in item:
                raise InvalidInputError(f"{path}:{number}: needs an object with session_id, role, content")
            message = {key: item.get(key) for key in ("role", "content", "timestamp", "metadata")}
            yield str(item.get("user_id") or default_user), str(item["session_id"]), [message]


def import_file(memory: Any, path: str, default_user: str = "default", progress: bool = False) -> int:
    """Import a file into ``memory``; returns how many messages were stored."""
    batches = list(read_messages(path, default_user))  # a malformed file stops before any write
    total = sum(len(messages) for _, _, messages in batches)
    bar = _progress(total) if progress else None
    count = 0
    for user, session, messages in batches:
        try:
            memory.add_messages(session, messages, user_id=user)
        except InvalidInputError as error:  # the same error, saying how far the import got
            raise type(error)(f"import stopped after {count} messages were imported: {error}") from None
        count += len(messages)
        if bar is not None:
            bar.update(len(messages))
    if bar is not None:
        bar.close()
    return count


def _progress(total: int) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="msg", file=sys.stderr, desc="importing")
