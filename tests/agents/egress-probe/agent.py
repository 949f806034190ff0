"""Fixture: tries the network through the egress proxy (see agent.yaml)."""

import base64
import http.client
import os
import socket
import urllib.error
import urllib.parse
import urllib.request

from atlas import AgentBase, AgentContext


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return "%d %s" % (r.status, r.read(200).decode(errors="replace"))
    except urllib.error.HTTPError as e:
        return "%d %s" % (e.code, e.read(300).decode(errors="replace").strip())
    except Exception as e:  # the reason is the point
        return "error: %s: %s" % (type(e).__name__, str(e)[:200])


def direct(hostport):
    host, port = hostport.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        return "connected"
    except Exception as e:
        return "error: %s: %s" % (type(e).__name__, str(e)[:200])


def tunnel(hostport):
    proxy = urllib.parse.urlsplit(os.environ.get("HTTPS_PROXY", ""))
    if not proxy.hostname:
        return "error: no HTTPS_PROXY"
    host, port = hostport.rsplit(":", 1)
    auth = base64.b64encode(("%s:%s" % (proxy.username, proxy.password)).encode()).decode()
    try:
        c = http.client.HTTPConnection(proxy.hostname, proxy.port, timeout=10)
        c.set_tunnel(host, int(port), headers={"Proxy-Authorization": "Basic " + auth})
        c.request("GET", "/tunnelled")
        r = c.getresponse()
        return "%d %s" % (r.status, r.read(200).decode(errors="replace"))
    except Exception as e:
        return "error: %s: %s" % (type(e).__name__, str(e)[:200])


class EgressProbe(AgentBase):
    async def execute(self, input: dict, context: AgentContext) -> dict:
        r = {"proxy": bool(os.environ.get("HTTP_PROXY"))}
        for u in input.get("urls", []):
            r[u] = fetch(u)
        if "direct" in input:
            r["direct"] = direct(input["direct"])
        if "tunnel" in input:
            r["tunnel"] = tunnel(input["tunnel"])
        return r
