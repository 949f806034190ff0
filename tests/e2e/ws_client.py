#!/usr/bin/python3
"""A WebSocket client for e2e.trigger_ws, on Debian's python3-websockets
(a real RFC 6455 implementation that is not ours).

  ws_client.py turns URL N        N turns of one conversation; prints JSON
  ws_client.py many URL N HOLD    N connections open at once for HOLD s
  ws_client.py raw URL MSG        one text message, the frames until the end

Exit 77 when python3-websockets is missing."""

import asyncio
import json
import os
import sys
import time

try:
    import websockets
except ImportError:
    sys.exit(77)


async def frames_until_end(ws, limit=10.0):
    out = []
    while True:
        f = json.loads(await asyncio.wait_for(ws.recv(), limit))
        out.append(f)
        if f["type"] in ("output", "error"):
            return out


async def turns(url, n):
    res = {"turns": []}
    async with websockets.connect(url, open_timeout=10) as ws:
        ready = json.loads(await asyncio.wait_for(ws.recv(), 10))
        res["ready"] = ready
        for k in range(n):
            await ws.send(json.dumps({"message": "hello %d" % k, "user_id": "u1", "ms": 50}))
            fr = await frames_until_end(ws)
            res["turns"].append({
                "types": [f["type"] for f in fr],
                "conversations": sorted({f.get("conversation_id") for f in fr}),
                "jobs": sorted({f.get("job_id") for f in fr if f.get("job_id")}),
                "output": fr[-1].get("output"),
                "error": fr[-1].get("error"),
                "progress": [f.get("message") for f in fr if f["type"] == "progress"],
            })
        # plain text is {"message": TEXT}
        await ws.send("just text")
        fr = await frames_until_end(ws)
        res["plain"] = fr[-1].get("output")
        # a binary message is refused on the connection, which stays up
        await ws.send(b"\x00\x01")
        res["binary"] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        pong = await ws.ping()
        await asyncio.wait_for(pong, 5)
        res["ping"] = True
    print(json.dumps(res))


async def one(url, hold, stats, go):
    try:
        async with websockets.connect(url, open_timeout=20, ping_interval=None) as ws:
            ready = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if ready.get("type") == "ready":
                stats["ready"] += 1
            await go.wait()
            pong = await ws.ping()
            await asyncio.wait_for(pong, 20)
            stats["pong"] += 1
            await asyncio.sleep(hold)
            pong = await ws.ping()
            await asyncio.wait_for(pong, 20)
            stats["alive"] += 1
    except Exception as e:  # noqa: BLE001 - counted and reported
        stats["errors"] += 1
        stats.setdefault("first_error", repr(e))


async def many(url, n, hold):
    stats = {"ready": 0, "pong": 0, "alive": 0, "errors": 0}
    go = asyncio.Event()
    t0 = time.monotonic()
    tasks = [asyncio.create_task(one(url, hold, stats, go)) for _ in range(n)]
    # every connection is open at once before any of them pings
    while stats["ready"] + stats["errors"] < n and time.monotonic() - t0 < 25:
        await asyncio.sleep(0.05)
    stats["open_s"] = round(time.monotonic() - t0, 2)
    print(json.dumps({"all_open": stats["ready"]}), flush=True)
    sys.stdout.flush()
    go.set()
    await asyncio.gather(*tasks)
    print(json.dumps(stats))


async def raw(url, msg):
    tok = os.environ.get("ATLAS_WS_TOKEN")
    hdrs = {"Authorization": "Bearer " + tok} if tok else None
    async with websockets.connect(url, open_timeout=10, extra_headers=hdrs) as ws:
        out = [json.loads(await asyncio.wait_for(ws.recv(), 10))]
        await ws.send(msg)
        out += await frames_until_end(ws)
    print(json.dumps(out))


def main():
    cmd, url = sys.argv[1], sys.argv[2]
    if cmd == "turns":
        asyncio.run(turns(url, int(sys.argv[3])))
    elif cmd == "many":
        asyncio.run(many(url, int(sys.argv[3]), float(sys.argv[4])))
    elif cmd == "raw":
        asyncio.run(raw(url, sys.argv[3]))


if __name__ == "__main__":
    main()
