"""Protocol constants shared by the SDK (docs/agent-protocol.md)."""

SDK_VERSION = "0.1.0"

# MCP revisions.  2026-07-28 is stateless (server/discover, per-request
# _meta); the others use the initialize handshake, newest first.
MODERN_VERSION = "2026-07-28"
LEGACY_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
DISCOVER_VERSIONS = [MODERN_VERSION, LEGACY_VERSIONS[0]]

# Reserved _meta keys of the 2026-07-28 envelope.
META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"

# Atlas _meta keys.
META_JOB_ID = "io.atlas/jobId"
META_TOKEN = "io.atlas/token"
META_USAGE = "io.atlas/usage"

# W3C trace context travels in _meta under these keys (2026-07-28).
TRACE_KEYS = ("traceparent", "tracestate")

# JSON-RPC 2.0 and MCP error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNSUPPORTED_PROTOCOL_VERSION = -32022  # MCP 2026-07-28
REQUEST_CANCELLED = -32800  # answer to a request cancelled by notifications/cancelled

# Longest line accepted on stdin (the runtime never sends more; a longer
# line is answered with a parse error and skipped).
MAX_LINE_BYTES = 64 * 1024 * 1024
