"""The supervisor (docs/supervisor.md): plan -> dispatch -> evaluate ->
revise -> report.  The plan is validated by the platform
(atlas.supervisor.plan: the schema and the run's scope), workers are child
jobs (atlas.exec.spawn), checks run in a fresh sandbox per call
(code-execution, the worker's output on stdin), the reviewer is a model
call through the gateway, and gaps become proposals
(atlas.approvals.propose).  Progress is logged as
{"supervisor": {"task", "state", ...}} lines (the job's SSE stream)."""

import asyncio
import json
import os

from atlas import AgentBase, AgentContext, AtlasError

PLAN_PROMPT = (
    "You plan work for the Atlas supervisor. Answer with one JSON object: "
    '{"tasks": [{"id", "worker" (an agent name), "description", "input" (object), '
    '"scope" ({"paths": [{"path", "mode"}]}), "checks" ([{"name", "code" (python: reads the '
    'worker output JSON on stdin, exits 0 when it is acceptable)}])}], "gaps": [proposals for '
    "capabilities that are missing]}. No prose.")
REVIEW_PROMPT = (
    "You review a worker's result for the Atlas supervisor. Answer with one JSON object: "
    '{"verdict": "pass"|"fail"|"needs_revision", "score": 0..1, "reasons": [strings]}.')

AUDIT_PROMPT = (
    "You audit a worker's result before the Atlas supervisor sees it: is it well formed, does it "
    "answer the task, does it break a safety rule (secrets, destructive commands, paths outside "
    'the task\'s scope)? Answer with one JSON object: {"score": 0..1, "findings": [strings]}.')

RANK = {"pass": 0, "needs_revision": 1, "fail": 2}


def worst(a, b):
    return a if RANK.get(a, 2) >= RANK.get(b, 2) else b


def model_json(text):
    try:
        return json.loads(text)
    except ValueError:
        a, b = text.find("{"), text.rfind("}")
        if a >= 0 and b > a:
            try:
                return json.loads(text[a:b + 1])
            except ValueError:
                pass
    return None


class Supervisor(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        self.ctx = context
        goal = input["goal"]
        model = input.get("model")
        kmax = int(input.get("max_revisions", 2))
        # the auditor (the gateway's small "auditor" tier) checks each result first
        self.auditor = input.get("auditor")
        self.audits = []
        self.event(None, "planning", goal=goal)
        user = "Goal: " + goal
        if input.get("context"):
            user += "\nContext:\n" + input["context"]
        if input.get("scope"):
            user += "\nScope (the only paths tasks may ask for): " + ", ".join(input["scope"])
        resp = await context.llm([{"role": "system", "content": PLAN_PROMPT},
                                  {"role": "user", "content": user}], model=model)
        text = resp["choices"][0]["message"]["content"] or ""
        try:
            plan = (await context.call_tool("atlas.supervisor.plan", {"text": text}))["plan"]
        except AtlasError as e:
            self.event(None, "plan_refused", reason=str(e))
            return {"goal": goal, "verdict": "fail", "tasks": [], "proposals": [],
                    "error": "the plan was refused: " + str(e)}
        self.event(None, "planned", tasks=[t["id"] for t in plan["tasks"]])
        sem = asyncio.Semaphore(int(input.get("workers", 2)))

        async def one(task):
            async with sem:
                return await self.run_task(task, kmax, model)

        results = await asyncio.gather(*[one(t) for t in plan["tasks"]])
        proposals = []
        for gap in plan.get("gaps", []):
            filing = dict(gap)
            ev = dict(filing.get("evidence") or {})
            ev.setdefault("checks", [{"task": r["id"], "verdict": r["verdict"]} for r in results])
            if self.audits:
                ev.setdefault("auditor", {
                    "score": min(a["score"] for a in self.audits),
                    "findings": [f for a in self.audits for f in a["findings"]][:20],
                    "model": self.audits[-1].get("model")})
            filing["evidence"] = ev
            try:
                p = await context.call_tool("atlas.approvals.propose", filing)
                proposals.append({"id": p["id"], "kind": p["kind"], "hash": p["hash"],
                                  "title": p["title"]})
                self.event(None, "proposed", proposal=p["id"], kind=p["kind"])
            except AtlasError as e:
                proposals.append({"error": str(e), "title": gap.get("title")})
        verdict = "pass"
        for r in results:
            verdict = worst(verdict, r["verdict"])
        self.event(None, "done", verdict=verdict)
        return {"goal": goal, "verdict": verdict, "tasks": results, "proposals": proposals,
                "summary": plan.get("summary")}

    def event(self, task, state, **kw):
        rec = {"task": task, "state": state}
        rec.update(kw)
        self.ctx.log({"supervisor": rec})

    async def run_task(self, task, kmax, model):
        tid = task["id"]
        notes = []
        verdicts = []
        attempt = 0
        output = None
        while True:
            attempt += 1
            self.event(tid, "running", worker=task["worker"], attempt=attempt)
            inp = dict(task.get("input") or {})
            if notes:
                inp["revision_notes"] = notes
            try:
                output, job = await self.ctx.spawn_job(task["worker"], inp)
            except AtlasError as e:
                v = {"verdict": "fail", "reasons": ["the worker failed: " + str(e)],
                     "source": "worker"}
                verdicts.append(v)
                data = e.data if isinstance(e.data, dict) else {}
                await self.record(tid, attempt, data.get("job"), v)
                self.event(tid, "fail", attempt=attempt, reasons=v["reasons"])
                return {"id": tid, "worker": task["worker"], "attempts": attempt,
                        "verdict": "fail", "verdicts": verdicts, "output": None}
            v = await self.evaluate(task, output, model)
            verdicts.append(v)
            await self.record(tid, attempt, job, v)
            if v["verdict"] == "needs_revision" and attempt <= kmax:
                notes = v["reasons"]
                self.event(tid, "needs_revision", attempt=attempt, reasons=v["reasons"])
                continue
            final = v["verdict"]
            if final == "needs_revision":
                final = "fail"  # out of revisions
            self.event(tid, final, attempt=attempt, reasons=v["reasons"])
            return {"id": tid, "worker": task["worker"], "attempts": attempt,
                    "verdict": final, "verdicts": verdicts, "output": output}

    async def record(self, tid, attempt, job, v):
        """The verdict as a semantic log of the audit trail and an eval result of
        the worker's job (atlas.supervisor.verdict); best effort."""
        if not job:
            return
        rec = {k: v[k] for k in ("verdict", "reasons", "score", "source") if k in v}
        review = v.get("review")
        if "score" not in rec and isinstance(review, dict) and \
                isinstance(review.get("score"), (int, float)):
            rec["score"] = review["score"]
        try:
            await self.ctx.call_tool("atlas.supervisor.verdict",
                                     {"task": tid, "attempt": attempt, "job": job, "verdict": rec})
        except AtlasError as e:
            self.event(tid, "unrecorded", attempt=attempt, reason=str(e))

    async def audit(self, task, output):
        """The auditor's {score, findings, model}, or None when it gave no such answer."""
        resp = await self.ctx.llm([
            {"role": "system", "content": AUDIT_PROMPT},
            {"role": "user", "content": "Task: " + json.dumps(task) + "\nResult: " +
             json.dumps(output)}], model="atlas:auditor")
        a = model_json(resp["choices"][0]["message"]["content"] or "")
        if not isinstance(a, dict) or not isinstance(a.get("score"), (int, float)):
            return None
        findings = [str(x) for x in a.get("findings", []) if isinstance(x, (str, int, float))]
        return {"score": float(a["score"]), "findings": findings,
                "model": (resp.get("atlas") or {}).get("model")}

    async def evaluate(self, task, output, model):
        """The auditor (when asked for), the check runner, then the model reviewer:
        one verdict, the worst."""
        if isinstance(self.auditor, dict):
            try:
                a = await self.audit(task, output)
            except AtlasError as e:
                return {"verdict": "fail", "reasons": ["the auditor could not run: " + str(e)],
                        "source": "auditor"}
            if a is None:
                return {"verdict": "fail", "reasons": ["the auditor's answer is not {score, findings}"],
                        "source": "auditor"}
            self.audits.append(a)
            if a["score"] < float(self.auditor.get("min_score", 0.5)):
                # below the bar: back to the worker before the checks and the reviewer
                return {"verdict": "needs_revision", "score": a["score"],
                        "reasons": ["auditor: " + f for f in a["findings"]] or
                        ["auditor: score %.2f" % a["score"]],
                        "auditor": a, "source": "auditor"}
        reasons, verdict, checks = [], "pass", []
        for c in task.get("checks", []):
            try:
                r = await self.ctx.skill("code-execution",
                                         {"code": c["code"], "stdin": json.dumps(output)})
                ok = r.get("exit_code") == 0
                checks.append({"name": c["name"], "passed": ok, "exit_code": r.get("exit_code")})
                if not ok:
                    verdict = worst(verdict, "needs_revision")
                    reasons.append("check %s failed: %s" % (
                        c["name"], (r.get("stderr") or r.get("stdout") or "").strip()[:300]))
            except AtlasError as e:
                verdict = worst(verdict, "fail")
                reasons.append("check %s could not run: %s" % (c["name"], e))
        review = None
        if verdict == "pass":
            resp = await self.ctx.llm([
                {"role": "system", "content": REVIEW_PROMPT},
                {"role": "user", "content": "Task: " + json.dumps(task) + "\nResult: " +
                 json.dumps(output)}], model=model)
            review = model_json(resp["choices"][0]["message"]["content"] or "")
            if not isinstance(review, dict) or review.get("verdict") not in RANK:
                verdict = "fail"
                reasons.append("the reviewer's answer is not a verdict")
            else:
                verdict = worst(verdict, review["verdict"])
                reasons.extend(str(x) for x in review.get("reasons", []))
        v = {"verdict": verdict, "reasons": reasons, "checks": checks,
             "review": review, "source": "checks+reviewer"}
        if self.audits and isinstance(self.auditor, dict):
            v["auditor"] = self.audits[-1]
            v["source"] = "auditor+checks+reviewer"
        return v
