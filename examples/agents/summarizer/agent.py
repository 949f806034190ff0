"""The Atlas spec's SummarizerAgent, with an extractive summary.

No model is involved yet: sentences are scored by how many of the text's
frequent content words they contain, and the best ones are kept, in their
original order, until ``max_length`` words are used.  ``token_count`` is the
number of words in the summary, so it never exceeds ``max_length``.

``AgentContext`` is not imported, exactly as in the spec: the runner provides
it to the module (``from atlas import AgentBase, AgentContext`` works too).
"""

import re
from collections import Counter

from atlas import AgentBase  # Thin base class, not a framework

_STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once only or other our ours ourselves out
over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves
""".split())

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n{2,}")
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def extractive_summary(text: str, max_length: int) -> str:
    """Pick the highest-scoring sentences, in text order, within max_length words."""
    if max_length <= 0:
        return ""
    sentences = _sentences(text)
    if not sentences:
        return ""
    words = [w.lower() for w in _WORD.findall(text)]
    freq = Counter(w for w in words if w not in _STOPWORDS and len(w) > 1)
    top = max(freq.values(), default=1)

    def score(i: int, sentence: str) -> float:
        toks = [w.lower() for w in _WORD.findall(sentence)]
        content = [w for w in toks if w in freq]
        if not content:
            return 0.0
        s = sum(freq[w] / top for w in content) / (len(content) ** 0.5)
        return s * (1.15 if i == 0 else 1.0)  # leads usually carry the topic

    ranked = sorted(range(len(sentences)), key=lambda i: -score(i, sentences[i]))
    chosen: list[int] = []
    used = 0
    for i in ranked:
        n = len(sentences[i].split())
        if used + n <= max_length:
            chosen.append(i)
            used += n
    if not chosen:
        # Even the best sentence is too long: cut it to max_length words.
        best = sentences[ranked[0]].split()[:max_length]
        return " ".join(best)
    return " ".join(sentences[i] for i in sorted(chosen))


class SummarizerAgent(AgentBase):
    """
    AgentBase provides:
    - Input/output validation against your declared schema
    - Lifecycle hook wiring
    - Optional access to platform MCP tools (if requires.platform_tools = true)
    You implement: execute()
    That's it.
    """

    async def execute(self, input: dict, context: AgentContext) -> dict:
        text = input["text"]
        max_length = input.get("max_length", 200)
        # Your logic — use any framework, any library, anything
        summary = await self.summarize(text, max_length)
        return {
            "summary": summary,
            "token_count": len(summary.split())
        }

    async def summarize(self, text: str, max_length: int) -> str:
        return extractive_summary(text, max_length)

    async def on_startup(self):
        # Load models, warm caches, etc.
        pass

    async def on_shutdown(self):
        # Cleanup
        pass
