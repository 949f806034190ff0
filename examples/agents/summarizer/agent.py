"""The Atlas spec's SummarizerAgent: the model writes the summary when one
is configured, an extractive summary is the fallback.

With the model gateway reachable (``OPENAI_BASE_URL``, which atlasd always
sets), it asks the agent's model tier (``model.preference: fast``) for a
summary of at most ``max_length`` words and returns it with ``"method":
"model"`` and the model that answered.  When that fails -- no model
configured (501 ``not-available``), the chain's budget spent, the gateway
unreachable, an empty reply, anything else -- it falls back to the
extractive summary, ``"method": "extractive"``: sentences are scored by how
many of the text's frequent content words they contain, and the best ones
are kept, in their original order, until ``max_length`` words are used.
Either way ``token_count`` is the number of words in the summary, so it
never exceeds ``max_length`` (a longer model reply is cut there).

``AgentContext`` is not imported, exactly as in the spec: the runner provides
it to the module (``from atlas import AgentBase, AgentContext`` works too).
"""

import os
import re
import time
from collections import Counter

from atlas import AgentBase  # Thin base class, not a framework

# Seconds to wait for the model before falling back (the agent's own
# timeout is execution.timeouts.agent, 60 s by default).
MODEL_TIMEOUT = 30
# After "not-available" (no model configured: a property of the daemon's
# configuration, not of the call) the process does not ask again for this
# long, so that runs without models cost no extra round trip.
UNAVAILABLE_RETRY_S = 60.0

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


def fit_words(text: str, max_length: int) -> str:
    """text with its whitespace normalised, cut to at most max_length words."""
    return " ".join(text.split()[:max(max_length, 0)])


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
        out = await self.summarize_with_model(text, max_length, context)
        if out is None:
            summary = await self.summarize(text, max_length)
            out = {"summary": summary, "method": "extractive"}
        out["token_count"] = len(out["summary"].split())
        return out

    _unavailable_until = 0.0  # see UNAVAILABLE_RETRY_S

    async def summarize_with_model(self, text: str, max_length: int, context) -> dict | None:
        """The model's summary, or None when there is no model to ask or
        asking failed (the reason goes to the job's log)."""
        if not os.environ.get("OPENAI_BASE_URL") or max_length <= 0 or not text.strip():
            return None
        if time.monotonic() < self._unavailable_until:
            context.log("summarizer: no model is configured (not-available); "
                        "using the extractive summary")
            return None
        messages = [
            {"role": "system",
             "content": "You summarize text. Answer with the summary only, in plain prose, "
                        f"using at most {max_length} words."},
            {"role": "user",
             "content": f"Summarize the following text in at most {max_length} words.\n\n{text}"},
        ]
        try:
            # ~4 tokens for 3 words, with room for punctuation; the cut below
            # enforces max_length whatever the model does.
            resp = await context.llm(messages, max_tokens=max(16, max_length * 2),
                                     temperature=0.2, timeout=MODEL_TIMEOUT)
            reply = resp["choices"][0]["message"]["content"]
        except Exception as e:  # AtlasError (not-available, limit-exceeded, ...) or a bad answer
            code = getattr(e, "code", type(e).__name__)
            if code == "not-available":
                self._unavailable_until = time.monotonic() + UNAVAILABLE_RETRY_S
            context.log(f"summarizer: no model summary ({code}): {e}; using the extractive one")
            return None
        summary = fit_words(reply if isinstance(reply, str) else "", max_length)
        if not summary:
            context.log("summarizer: the model answered nothing; using the extractive summary")
            return None
        meta = resp.get("atlas") if isinstance(resp.get("atlas"), dict) else {}
        model = meta.get("model") or resp.get("model")
        out = {"summary": summary, "method": "model"}
        if isinstance(model, str) and model:
            out["model"] = model
        return out

    async def summarize(self, text: str, max_length: int) -> str:
        return extractive_summary(text, max_length)

    async def on_startup(self):
        # Load models, warm caches, etc.
        pass

    async def on_shutdown(self):
        # Cleanup
        pass
