"""Searches the corpus shipped beside this file (corpus/*.txt: a title line,
then paragraphs) and returns the paragraphs that match the query best."""
import os
import re

from atlas import AgentBase, AgentContext

WORD = re.compile(r"[a-z0-9]+")


def words(text):
    return [w for w in WORD.findall(text.lower()) if len(w) > 2]


class WebSearcher(AgentBase):
    async def on_startup(self):
        here = os.path.dirname(os.path.abspath(__file__))
        self.docs = []
        folder = os.path.join(here, "corpus")
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                title, _, body = f.read().partition("\n")
            for i, para in enumerate(p.strip() for p in body.split("\n\n") if p.strip()):
                self.docs.append({"title": title.strip(), "url": f"corpus://{name}#{i}",
                                  "snippet": para, "words": set(words(para + " " + title))})

    async def execute(self, input: dict, context: AgentContext) -> dict:
        query = set(words(input["query"]))
        scored = []
        for d in self.docs:
            score = len(query & d["words"])
            if score:
                scored.append((score, d))
        scored.sort(key=lambda x: (-x[0], x[1]["url"]))
        top = [d for _, d in scored[: input.get("limit", 3)]]
        results = [{"title": d["title"], "url": d["url"], "snippet": d["snippet"]} for d in top]
        return {
            "results": results,
            # many matching passages call for a closer look
            "needs_deeper_analysis": len(scored) > input.get("limit", 3),
            "raw_data": [d["snippet"] for _, d in scored[:10]],
        }
