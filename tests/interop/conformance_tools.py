"""Conformance fixture: one Atlas agent per tool that the MCP conformance
suite's server scenarios call.  The agent's name picks the behaviour;
tests/interop/lib.sh (register_fixtures) copies this file into each fixture
directory under tests/interop/agents as its agent.py.  Outputs of the form
{"content": [...]} become the MCP result's content blocks (docs/mcp.md)."""

import asyncio
import json
import os

from atlas import AgentBase, AgentContext, platform

PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAAB"
       "JRU5ErkJggg==")
WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="


def text(t):
    return {"type": "text", "text": t}


async def ask_caller(context: AgentContext, method: str, params: dict) -> dict:
    """Relay a request to the MCP client that started this job: atlasd
    forwards it on that client's stream and answers with its response."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                       "params": params}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "Authorization": f"Bearer {context.token}"}
    _, _, data = await asyncio.to_thread(platform.http_post, os.environ["ATLAS_MCP_URL"],
                                         body, headers, 60)
    doc = json.loads(data)
    if "error" in doc:
        raise RuntimeError(doc["error"].get("message", "error"))
    return doc["result"]


ELICIT_1034 = {"type": "object", "required": [], "properties": {
    "name": {"type": "string", "description": "User name", "default": "John Doe"},
    "age": {"type": "integer", "description": "User age", "default": 30},
    "score": {"type": "number", "description": "User score", "default": 95.5},
    "status": {"type": "string", "description": "User status",
               "enum": ["active", "inactive", "pending"], "default": "active"},
    "verified": {"type": "boolean", "description": "Verification status", "default": True}}}

ELICIT_1330 = {"type": "object", "required": [], "properties": {
    "untitledSingle": {"type": "string", "description": "Choose an option",
                       "enum": ["option1", "option2", "option3"]},
    "titledSingle": {"type": "string", "description": "Choose a titled option", "oneOf": [
        {"const": "value1", "title": "First Option"},
        {"const": "value2", "title": "Second Option"},
        {"const": "value3", "title": "Third Option"}]},
    "legacyEnum": {"type": "string", "description": "Choose a legacy option",
                   "enum": ["opt1", "opt2", "opt3"],
                   "enumNames": ["Option One", "Option Two", "Option Three"]},
    "untitledMulti": {"type": "array", "description": "Choose multiple options",
                      "minItems": 1, "maxItems": 3,
                      "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
    "titledMulti": {"type": "array", "description": "Choose multiple titled options",
                    "minItems": 1, "maxItems": 3, "items": {"anyOf": [
                        {"const": "value1", "title": "First Choice"},
                        {"const": "value2", "title": "Second Choice"},
                        {"const": "value3", "title": "Third Choice"}]}}}}


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
        if name == "test_sampling":
            r = await ask_caller(context, "sampling/createMessage", {
                "messages": [{"role": "user", "content": text(input.get("prompt", ""))}],
                "maxTokens": 100})
            reply = (r.get("content") or {}).get("text", "No response")
            return {"content": [text(f"LLM response: {reply}")]}
        if name == "test_elicitation":
            r = await ask_caller(context, "elicitation/create", {
                "mode": "form", "message": input.get("message", ""),
                "requestedSchema": {"type": "object", "required": ["response"], "properties": {
                    "response": {"type": "string", "description": "User's response"}}}})
            return {"content": [text(f"User response: action={r.get('action')}, "
                                     f"content={json.dumps(r.get('content') or {})}")]}
        if name in ("test_elicitation_sep1034_defaults", "test_elicitation_sep1330_enums"):
            schema = ELICIT_1034 if name.endswith("defaults") else ELICIT_1330
            r = await ask_caller(context, "elicitation/create", {
                "mode": "form", "message": "Please review and update the form fields",
                "requestedSchema": schema})
            return {"content": [text(f"Elicitation completed: action={r.get('action')}, "
                                     f"content={json.dumps(r.get('content') or {})}")]}
        if name == "json_schema_2020_12_tool":
            return {"content": [text(f"received {sorted(input)}")]}
        return {"content": [text(f"{name}: nothing to do")]}
