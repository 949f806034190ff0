"""Finding the agent's contract (the ``agent:`` block of agent.yaml).

Under atlasd the contract arrives already parsed: ``ATLAS_CONTRACT`` names a
JSON file holding the ``agent:`` block.  Standalone, the ``agent.yaml`` beside
the agent's source is parsed with :mod:`atlas.miniyaml`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from . import miniyaml


class ContractError(Exception):
    """The contract could not be read; the message names the file (and the
    line and column for YAML)."""


def load_contract(agent_dir: str) -> dict:
    """Return the contract as a dict (``{}`` when there is none)."""
    path = os.environ.get("ATLAS_CONTRACT")
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except OSError as exc:
            raise ContractError(f"{path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ContractError(f"{path}: not JSON: {exc}") from None
        # Accept the whole document as well as the bare agent: block.
        if isinstance(data, dict) and isinstance(data.get("agent"), dict) and "name" not in data:
            data = data["agent"]
        if not isinstance(data, dict):
            raise ContractError(f"{path}: the contract must be a JSON object")
        return data
    for name in ("agent.yaml", "agent.yml"):
        yml = os.path.join(agent_dir, name)
        if os.path.exists(yml):
            try:
                doc = miniyaml.load(yml)
            except miniyaml.YAMLError as exc:
                raise ContractError(str(exc)) from None
            except OSError as exc:
                raise ContractError(f"{yml}: {exc.strerror}") from None
            if not isinstance(doc, dict) or not isinstance(doc.get("agent"), dict):
                raise ContractError(f"{yml}: expected a top-level 'agent:' mapping")
            return doc["agent"]
    return {}


def schema_of(contract: dict, section: str) -> Any:
    """``contract[section].schema`` (section is "input" or "output"), or None."""
    block = contract.get(section)
    if isinstance(block, dict) and isinstance(block.get("schema"), (dict, bool)):
        return block["schema"]
    return None
