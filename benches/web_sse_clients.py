#!/usr/bin/env python3
"""Holds N SSE connections to a p1ib web server and counts the `reading` events
each receives; used by benches/web_load.sh. Loopback only; stops by itself.

usage: web_sse_clients.py HOST PORT CLIENTS SECONDS
Prints one JSON line: clients connected, events per client (min/max), seqs seen.
"""
import asyncio
import json
import re
import sys
import time

SEQ = re.compile(rb'"seq":(\d+),')


async def client(host, port, stats, stop, ready):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /api/v1/events HTTP/1.1\r\nHost: p1ib\r\nAccept: text/event-stream\r\n\r\n")
    await writer.drain()
    seqs = set()
    buf = b""
    connected = False
    try:
        while not stop.is_set():
            try:
                chunk = await asyncio.wait_for(reader.read(65536), timeout=0.5)
            except asyncio.TimeoutError:
                continue
            if not chunk:
                break
            if not connected and b"event: status" in buf + chunk:
                connected = True
                ready.append(1)
            buf = (buf + chunk)[-4096:]
            for m in SEQ.finditer(chunk):
                seqs.add(int(m.group(1)))
    finally:
        writer.close()
    stats.append(seqs)


async def main():
    host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    stats, ready, stop = [], [], asyncio.Event()
    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(client(host, port, stats, stop, ready)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)
    t0 = time.time()
    while len(ready) < n and time.time() - t0 < 30:
        await asyncio.sleep(0.1)
    print(json.dumps({"phase": "connected", "clients": len(ready)}), flush=True)
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    # Every telegram published while all clients were connected should reach all of them.
    common = set.intersection(*stats) if stats else set()
    union = set.union(*stats) if stats else set()
    counts = [len(s) for s in stats]
    print(json.dumps({
        "phase": "done",
        "clients": len(stats),
        "telegrams_seen": len(union),
        "telegrams_seen_by_every_client": len(common),
        "events_per_client_min": min(counts) if counts else 0,
        "events_per_client_max": max(counts) if counts else 0,
    }), flush=True)


asyncio.run(main())
