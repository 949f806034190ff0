"""A capture receiver for OTLP/HTTP JSON (POST /v1/traces) that checks
every request against the OTLP 1.x JSON encoding of
ExportTraceServiceRequest (opentelemetry-proto, collector/trace/v1):
known field names only, lowerCamelCase, hex trace/span ids of 32/16
digits, 64-bit integers as decimal strings, enum values in range, AnyValue
with exactly one member.  Valid requests get 200 {} and are appended (one
JSON document per line) to argv[2]; invalid ones get 400 with the reason
and the reason is appended to argv[2] + ".errors".  Port in argv[1].
With argv[3] == "hang", it accepts connections and never answers."""

import json
import os
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HEX = re.compile(r"^[0-9a-f]*$")
U64 = re.compile(r"^[0-9]+$")
SPAN_FIELDS = {"traceId", "spanId", "traceState", "parentSpanId", "flags", "name", "kind",
               "startTimeUnixNano", "endTimeUnixNano", "attributes", "droppedAttributesCount",
               "events", "droppedEventsCount", "links", "droppedLinksCount", "status"}
ANY_FIELDS = {"stringValue", "boolValue", "intValue", "doubleValue", "arrayValue",
              "kvlistValue", "bytesValue"}


def fields(obj, allowed, where):
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: not an object")
    extra = set(obj) - allowed
    if extra:
        raise ValueError(f"{where}: unknown fields {sorted(extra)}")


def any_value(v, where):
    fields(v, ANY_FIELDS, where)
    if len(v) != 1:
        raise ValueError(f"{where}: AnyValue needs exactly one member, has {sorted(v)}")
    k, x = next(iter(v.items()))
    if k == "stringValue" and not isinstance(x, str):
        raise ValueError(f"{where}: stringValue is not a string")
    if k == "intValue" and not (isinstance(x, str) and re.match(r"^-?[0-9]+$", x)):
        raise ValueError(f"{where}: intValue must be a decimal string")
    if k == "doubleValue" and not isinstance(x, (int, float)):
        raise ValueError(f"{where}: doubleValue is not a number")


def attributes(attrs, where):
    if not isinstance(attrs, list):
        raise ValueError(f"{where}: attributes is not a list")
    keys = set()
    for i, kv in enumerate(attrs):
        fields(kv, {"key", "value"}, f"{where}[{i}]")
        if not isinstance(kv.get("key"), str) or not kv["key"]:
            raise ValueError(f"{where}[{i}]: key")
        if kv["key"] in keys:
            raise ValueError(f"{where}[{i}]: duplicate key {kv['key']}")
        keys.add(kv["key"])
        any_value(kv.get("value"), f"{where}[{i}].value")


def span(s, where):
    fields(s, SPAN_FIELDS, where)
    for k, n in (("traceId", 32), ("spanId", 16)):
        if not (isinstance(s.get(k), str) and len(s[k]) == n and HEX.match(s[k])):
            raise ValueError(f"{where}.{k}: not {n} lowercase hex digits")
    if s["traceId"] == "0" * 32 or s["spanId"] == "0" * 16:
        raise ValueError(f"{where}: an all-zero id is invalid")
    if "parentSpanId" in s and not (len(s["parentSpanId"]) in (0, 16) and HEX.match(s["parentSpanId"])):
        raise ValueError(f"{where}.parentSpanId")
    if not isinstance(s.get("name"), str) or not s["name"]:
        raise ValueError(f"{where}.name")
    if s.get("kind", 0) not in range(6):
        raise ValueError(f"{where}.kind")
    for k in ("startTimeUnixNano", "endTimeUnixNano"):
        if not (isinstance(s.get(k), str) and U64.match(s[k])):
            raise ValueError(f"{where}.{k}: must be a decimal string")
    if int(s["endTimeUnixNano"]) < int(s["startTimeUnixNano"]):
        raise ValueError(f"{where}: ends before it starts")
    attributes(s.get("attributes", []), f"{where}.attributes")
    st = s.get("status", {})
    fields(st, {"code", "message"}, f"{where}.status")
    if st.get("code", 0) not in (0, 1, 2):
        raise ValueError(f"{where}.status.code")


def request(doc):
    fields(doc, {"resourceSpans"}, "request")
    for i, rs in enumerate(doc["resourceSpans"]):
        fields(rs, {"resource", "scopeSpans", "schemaUrl"}, f"resourceSpans[{i}]")
        fields(rs.get("resource", {}), {"attributes", "droppedAttributesCount"}, "resource")
        attributes(rs.get("resource", {}).get("attributes", []), "resource.attributes")
        for k, ss in enumerate(rs["scopeSpans"]):
            fields(ss, {"scope", "spans", "schemaUrl"}, f"scopeSpans[{k}]")
            fields(ss.get("scope", {}), {"name", "version", "attributes",
                                         "droppedAttributesCount"}, "scope")
            for n, s in enumerate(ss["spans"]):
                span(s, f"resourceSpans[{i}].scopeSpans[{k}].spans[{n}]")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        if len(sys.argv) > 3 and sys.argv[3] == "hang":
            time.sleep(3600)
            return
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        code, out = 200, b"{}"
        try:
            if self.path != "/v1/traces":
                raise ValueError(f"path {self.path}")
            if not self.headers.get("Content-Type", "").startswith("application/json"):
                raise ValueError("Content-Type is not application/json")
            doc = json.loads(body)
            request(doc)
            with open(sys.argv[2], "a") as f:
                f.write(json.dumps({"headers": dict(self.headers), "body": doc}) + "\n")
        except Exception as e:  # noqa: BLE001 - report every failure
            code, out = 400, json.dumps({"error": str(e)}).encode()
            with open(sys.argv[2] + ".errors", "a") as f:
                f.write(str(e) + "\n")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
