"""Finds the words shared by the passages and the richest passage."""
import collections
import re

from atlas import AgentBase, AgentContext

STOP = set("the and for that with this from are was were has have its into their each which "
           "what when where while than then them they there these those also more most".split())


class DeepAnalyzer(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        data = input["data"]
        counts = collections.Counter()
        for passage in data:
            counts.update({w for w in re.findall(r"[a-z]+", passage.lower())
                           if len(w) > 3 and w not in STOP})
        themes = [w for w, n in counts.most_common(5) if n > 1] or [w for w, _ in counts.most_common(3)]
        key = max(data, key=lambda p: len(set(p.lower().split())))
        return {"themes": themes, "key_passage": key, "passages": len(data)}
