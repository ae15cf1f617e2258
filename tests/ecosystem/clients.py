"""The real client libraries, driven against a running p1ib by tests/ecosystem/.

Each subcommand talks to p1ib on 127.0.0.1 the way the program it stands for
does, and prints one JSON line of what the library made of the answers (or
fails with a traceback). The Rust tests assert on that line.

  homewizard HOST:PORT          python-homewizard-energy as Home Assistant's
                                integration uses it (combined(), cloud, identify)
  shelly HOST:PORT              aioshelly's device info and the HTTP RPC
  shellyws HOST:PORT            aioshelly's RpcDevice over WebSocket, as Home
                                Assistant's Shelly integration connects, until a
                                NotifyStatus has come
  wsabuse HOST:PORT N           N+1 plain WebSocket clients on /rpc: what the one
                                too many, a huge frame and junk frames get
  wsidle HOST:PORT              a WebSocket client that stays silent, until closed
  udp PORT REQUEST_JSON         a home battery's JSON-RPC datagram (Marstek)
  dsmr HOST PORT VERSION N      dsmr_parser's TCP client (HA DSMR network mode)
  amshan HOST PORT N            amshan's TCP reader, HDLC frames decoded
"""

import asyncio
import dataclasses
import datetime
import json
import socket
import sys

import aiohttp


def net(plus, minus):
    """Import minus export, as p1ib nets them: None when neither is known."""
    if plus is None and minus is None:
        return None
    return float(plus or 0) - float(minus or 0)


def num(value):
    return None if value is None else float(value)


def summary(power_w, import_kwh, export_kwh, phase_w, phase_v, phase_a):
    """What every client is checked on, in one shape: the net power, the energy
    totals and each phase's power, voltage and current (as a magnitude)."""
    return {
        "power_w": num(power_w),
        "import_kwh": num(import_kwh),
        "export_kwh": num(export_kwh),
        "phase_w": [num(v) for v in phase_w],
        "phase_v": [num(v) for v in phase_v],
        "phase_a": [None if v is None else abs(float(v)) for v in phase_a],
    }


def plain(value):
    """JSON for dataclasses, enums, datetimes and decimals."""
    if dataclasses.is_dataclass(value):
        return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if hasattr(value, "value") and hasattr(value, "name"):  # Enum
        return value.name
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


async def homewizard(host):
    from homewizard_energy import HomeWizardEnergyV1

    async with HomeWizardEnergyV1(host) as api:
        # what Home Assistant's coordinator asks every few seconds
        combined = await api.combined()
        # the cloud switch and the identify button
        cloud = await api.system(cloud_enabled=True)
        identify = await api.identify()
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://{host}/api/v1/telegram") as r:
            telegram = {"status": r.status, "text": await r.text()}
    m = combined.measurement
    print(json.dumps({
        "summary": summary(
            m.power_w, m.energy_import_kwh, m.energy_export_kwh,
            [m.power_l1_w, m.power_l2_w, m.power_l3_w],
            [m.voltage_l1_v, m.voltage_l2_v, m.voltage_l3_v],
            [m.current_l1_a, m.current_l2_a, m.current_l3_a]),
        "device": plain(combined.device),
        "measurement": plain(combined.measurement),
        "system": plain(combined.system),
        "cloud_after_put": plain(cloud),
        "identify": identify,
        "telegram": telegram,
    }))


async def shelly(host):
    from aioshelly.common import get_info, is_firmware_supported

    address, port = host.rsplit(":", 1)
    async with aiohttp.ClientSession() as s:
        info = await get_info(s, address, port=int(port))
        supported = is_firmware_supported(info["gen"], info["model"], info["fw_id"])
        async with s.get(f"http://{host}/rpc/EM.GetStatus?id=0") as r:
            em = {"status": r.status, "text": await r.text()}
        async with s.get(f"http://{host}/rpc/EMData.GetStatus?id=0") as r:
            emdata = await r.json()
        async with s.get(f"http://{host}/rpc/Shelly.GetDeviceInfo") as r:
            device = await r.json()
        rpc = {"id": 7, "src": "test", "method": "Shelly.GetStatus"}
        async with s.post(f"http://{host}/rpc", json=rpc) as r:
            status = await r.json()
    print(json.dumps({"info": info, "supported": supported, "em": em,
                      "emdata": emdata, "device": device, "status": status}))


async def shellyws(host):
    from aioshelly.common import ConnectionOptions
    from aioshelly.rpc_device import RpcDevice, RpcUpdateType

    address, port = host.rsplit(":", 1)
    updates = asyncio.Queue()
    async with aiohttp.ClientSession() as s:
        device = await RpcDevice.create(s, None, ConnectionOptions(address, port=int(port)))
        device.subscribe_updates(lambda _d, kind: updates.put_nowait(kind))
        await device.initialize()
        initial = {"status": device.status, "config": device.config,
                   "shelly": device.shelly, "firmware_supported": device.firmware_supported,
                   "model": device.model, "connected": device.connected}
        kinds = []
        while True:
            kind = await asyncio.wait_for(updates.get(), 20)
            kinds.append(kind.name)
            if kind is RpcUpdateType.STATUS:
                break
        pushed = device.status
        await device.shutdown()
    em, emdata = pushed.get("em:0", {}), pushed.get("emdata:0", {})
    wh = lambda v: None if v is None else v / 1000
    print(json.dumps({
        "summary": summary(
            em.get("total_act_power"), wh(emdata.get("total_act")), wh(emdata.get("total_act_ret")),
            [em.get(f"{p}_act_power") for p in "abc"],
            [em.get(f"{p}_voltage") for p in "abc"],
            [em.get(f"{p}_current") for p in "abc"]),
        "initial": plain(initial), "updates": kinds, "pushed": plain(pushed)}))


async def wsabuse(host, n):
    url = f"http://{host}/rpc"
    out = {}
    async with aiohttp.ClientSession() as s:
        sockets = [await s.ws_connect(url) for _ in range(n)]
        try:
            await s.ws_connect(url)
            out["extra"] = "accepted"
        except aiohttp.WSServerHandshakeError as e:
            out["extra"] = e.status
        ws = sockets[0]
        # junk, a notification (no id) and then a request: only the request is answered
        await ws.send_str("not json")
        await ws.send_str(json.dumps({"src": "abuse", "method": "Shelly.GetDeviceInfo"}))
        await ws.send_str(json.dumps({"id": 9, "src": "abuse", "method": "Shelly.GetDeviceInfo"}))
        first = await asyncio.wait_for(ws.receive_json(), 10)
        out["first_answer_id"] = first.get("id")
        out["first_answer_dst"] = first.get("dst")
        # a frame over the limit closes that socket (1009: message too big)
        big = sockets[1]
        await big.send_str("x" * (64 * 1024))
        msg = await asyncio.wait_for(big.receive(), 10)
        out["big"] = {"type": msg.type.name, "code": big.close_code}
        # and frees its place
        await asyncio.sleep(0)
        for _ in range(50):
            try:
                extra = await s.ws_connect(url)
                out["after_close"] = "accepted"
                await extra.close()
                break
            except aiohttp.WSServerHandshakeError as e:
                out["after_close"] = e.status
                await asyncio.sleep(0.1)
        for ws in sockets:
            await ws.close()
    print(json.dumps(out))


async def wsidle(host):
    """A client that says nothing, not even pings: how long until it is closed."""
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as s:
        ws = await s.ws_connect(f"http://{host}/rpc", heartbeat=None)
        start = loop.time()
        msg = await asyncio.wait_for(ws.receive(), 300)
        print(json.dumps({"type": msg.type.name, "code": ws.close_code,
                          "after_s": loop.time() - start}))


def udp(port, request):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(10)
        s.sendto(request.encode(), ("127.0.0.1", int(port)))
        data, _ = s.recvfrom(4096)
    print(json.dumps({"datagram": data.decode()}))


async def dsmr(host, port, version, count):
    from dsmr_parser.clients.protocol import create_tcp_dsmr_reader

    telegrams = []
    done = asyncio.get_running_loop().create_future()

    def on_telegram(telegram):
        telegrams.append(json.loads(telegram.to_json()))
        last.append(telegram)
        if len(telegrams) >= count and not done.done():
            done.set_result(None)

    last = []
    conn = create_tcp_dsmr_reader(host, port, version, on_telegram)
    transport, _ = await conn
    try:
        await asyncio.wait_for(done, 20)
    finally:
        transport.close()
    t = last[-1]

    def get(name):
        obj = getattr(t, name, None)
        return None if obj is None else obj.value

    def total(name, tariffs):
        if get(name) is not None:
            return get(name)
        known = [get(n) for n in tariffs if get(n) is not None]
        return sum(known) if known else None

    kw = lambda v: None if v is None else float(v) * 1000
    print(json.dumps({
        "summary": summary(
            kw(net(get("CURRENT_ELECTRICITY_USAGE"), get("CURRENT_ELECTRICITY_DELIVERY"))),
            total("ELECTRICITY_IMPORTED_TOTAL", ["ELECTRICITY_USED_TARIFF_1", "ELECTRICITY_USED_TARIFF_2"]),
            total("ELECTRICITY_EXPORTED_TOTAL", ["ELECTRICITY_DELIVERED_TARIFF_1", "ELECTRICITY_DELIVERED_TARIFF_2"]),
            [kw(net(get(f"INSTANTANEOUS_ACTIVE_POWER_L{n}_POSITIVE"), get(f"INSTANTANEOUS_ACTIVE_POWER_L{n}_NEGATIVE")))
             for n in (1, 2, 3)],
            [get(f"INSTANTANEOUS_VOLTAGE_L{n}") for n in (1, 2, 3)],
            [get(f"INSTANTANEOUS_CURRENT_L{n}") for n in (1, 2, 3)]),
        "timestamp": None if get("P1_MESSAGE_TIMESTAMP") is None else get("P1_MESSAGE_TIMESTAMP").isoformat(),
        "telegrams": telegrams}))


async def amshan(host, port, count):
    from han import autodecoder
    from han.tcp_connection_factory import create_tcp_message_payload_connection

    queue = asyncio.Queue()
    transport, _ = await create_tcp_message_payload_connection(
        queue, None, None, host=host, port=port)
    decoder = autodecoder.AutoDecoder()
    decoded = []
    try:
        while len(decoded) < count:
            payload = await asyncio.wait_for(queue.get(), 20)
            message = decoder.decode_message_payload(payload)
            if message is not None:
                decoded.append(plain(message))
    finally:
        transport.close()
    print(json.dumps({"messages": decoded}))


def main(argv):
    cmd = argv[1]
    if cmd == "homewizard":
        asyncio.run(homewizard(argv[2]))
    elif cmd == "shelly":
        asyncio.run(shelly(argv[2]))
    elif cmd == "shellyws":
        asyncio.run(shellyws(argv[2]))
    elif cmd == "wsabuse":
        asyncio.run(wsabuse(argv[2], int(argv[3])))
    elif cmd == "wsidle":
        asyncio.run(wsidle(argv[2]))
    elif cmd == "udp":
        udp(argv[2], argv[3])
    elif cmd == "dsmr":
        asyncio.run(dsmr(argv[2], int(argv[3]), argv[4], int(argv[5])))
    elif cmd == "amshan":
        asyncio.run(amshan(argv[2], int(argv[3]), int(argv[4])))
    else:
        raise SystemExit(f"unknown subcommand {cmd}")


if __name__ == "__main__":
    main(sys.argv)
