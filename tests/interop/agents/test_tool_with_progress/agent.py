"""Conformance fixture: one Atlas agent per tool that the MCP conformance
suite's server scenarios call.  The agent's name picks the behaviour
(every fixture directory holds this same file).  Outputs of the form
{"content": [...]} become the MCP result's content blocks (docs/mcp.md)."""

import asyncio

from atlas import AgentBase, AgentContext

PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAAB"
       "JRU5ErkJggg==")
WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="


def text(t):
    return {"type": "text", "text": t}


class ConformanceTool(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        name = self.name
        if name == "test_simple_text":
            return {"content": [text("This is a simple text response for testing.")]}
        if name == "test_image_content":
            return {"content": [{"type": "image", "data": PNG, "mimeType": "image/png"}]}
        if name == "test_audio_content":
            return {"content": [{"type": "audio", "data": WAV, "mimeType": "audio/wav"}]}
        if name == "test_embedded_resource":
            return {"content": [{"type": "resource", "resource": {
                "uri": "test://embedded-resource", "mimeType": "text/plain",
                "text": "This is an embedded resource content."}}]}
        if name == "test_multiple_content_types":
            return {"content": [
                text("Multiple content types test:"),
                {"type": "image", "data": PNG, "mimeType": "image/png"},
                {"type": "resource", "resource": {
                    "uri": "test://mixed-content-resource", "mimeType": "application/json",
                    "text": '{"test":"data","value":123}'}}]}
        if name == "test_tool_with_logging":
            for msg in ("Tool execution started", "Tool processing data",
                        "Tool execution completed"):
                context.log(msg)
                await asyncio.sleep(0.05)
            return {"content": [text("Tool with logging executed successfully")]}
        if name == "test_tool_with_progress":
            for p in (0, 50, 100):
                context.progress(p, 100, f"Completed step {p} of 100")
                await asyncio.sleep(0.05)
            return {"content": [text("progress reported")]}
        if name == "test_error_handling":
            raise RuntimeError("This tool intentionally returns an error for testing")
        if name == "test_reconnection":
            await asyncio.sleep(0.1)
            return {"content": [text("Reconnection test completed successfully.")]}
        if name == "json_schema_2020_12_tool":
            return {"content": [text(f"received {sorted(input)}")]}
        return {"content": [text(f"{name}: nothing to do")]}
