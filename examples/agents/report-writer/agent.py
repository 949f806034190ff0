"""Writes a report around a summary."""
import json

from atlas import AgentBase, AgentContext


class ReportWriter(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        summary, fmt, title = input["summary"].strip(), input["format"], input["title"]
        points = [s.strip() for s in summary.replace("\n", " ").split(". ") if s.strip()]
        if fmt == "markdown":
            body = "\n".join(f"- {p.rstrip('.')}." for p in points)
            report = f"# {title}\n\n## Findings\n\n{body}\n"
        elif fmt == "json":
            report = json.dumps({"title": title, "findings": points})
        else:
            report = f"{title}\n\n" + "\n".join(points)
        return {"report": report, "format": fmt, "words": len(report.split())}
