"""word-count: counts words, characters and lines (standard library only)."""

import re
from collections import Counter

from atlas import AgentBase, AgentContext

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


class WordCountAgent(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        text = input["text"]
        words = _WORD.findall(text)
        out = {
            "words": len(words),
            "characters": len(text),
            "lines": len(text.splitlines()),
        }
        if input.get("top", 0) > 0:
            counts = Counter(w.lower() for w in words)
            # Most frequent first; ties in alphabetical order, so output is stable.
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: input["top"]]
            out["top_words"] = [{"word": w, "count": c} for w, c in ranked]
        return out
