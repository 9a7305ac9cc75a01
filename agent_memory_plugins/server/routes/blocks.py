"""``/api/users/{user_id}/blocks``: working-memory blocks, their current text and every version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from ..deps import Core, SessionFilter, UserId, Write
from ..models import BlockIn, BlockOut

router = APIRouter(prefix="/users/{user_id}/blocks", tags=["blocks"])

BlockName = Annotated[str, Path(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$",
                                description="A letter, then up to 63 letters, digits, '_', '.' or '-'")]


@router.get("", summary="The blocks in effect: the user's, then (with session_id) the session's")
def list_blocks(core: Core, user_id: UserId, session_id: SessionFilter = None) -> list[BlockOut]:
    """What ``context()`` shows first, in that order."""
    return [BlockOut.of(block) for block in core.blocks(user_id=user_id, session_id=session_id)]


@router.get("/{name}", summary="One block's current version")
def get_block(core: Core, user_id: UserId, name: BlockName, session_id: SessionFilter = None) -> BlockOut:
    """The block of the user (or, with ``session_id``, of that session); 404 when there is none."""
    block = core.get_block(name, user_id=user_id, session_id=session_id)
    if block is None:
        raise HTTPException(status_code=404, detail=f"no block {name!r} for user {user_id!r}")
    return BlockOut.of(block)


@router.put("/{name}", dependencies=[Write], summary="Set a block's text (a new version)")
def set_block(core: Core, user_id: UserId, name: BlockName, body: BlockIn) -> BlockOut:
    """Write the block's new text (an unchanged text makes no version); a text over the block's
    limit is refused with 422 and changes nothing."""
    return BlockOut.of(core.set_block(name, body.text, user_id=user_id, session_id=body.session_id, limit=body.limit))


@router.get("/{name}/history", summary="Every version of a block, oldest first")
def block_history(core: Core, user_id: UserId, name: BlockName, session_id: SessionFilter = None) -> list[BlockOut]:
    """Empty when there is no such block."""
    return [BlockOut.of(block) for block in core.block_history(name, user_id=user_id, session_id=session_id)]
