"""The real client libraries, driven against a running p1ib by tests/ecosystem/.

Each subcommand talks to p1ib on 127.0.0.1 the way the program it stands for
does, and prints one JSON line of what the library made of the answers (or
fails with a traceback). The Rust tests assert on that line.

  homewizard HOST:PORT          python-homewizard-energy (Home Assistant's client)
  shelly HOST:PORT              aioshelly's device info and the HTTP RPC
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
    from homewizard_energy import HomeWizardEnergy

    async with HomeWizardEnergy(host) as api:
        device = await api.device()
        data = await api.data()
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://{host}/api/v1/telegram") as r:
            telegram = {"status": r.status, "text": await r.text()}
    print(json.dumps({"device": plain(device), "data": plain(data), "telegram": telegram}))


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
        if len(telegrams) >= count and not done.done():
            done.set_result(None)

    conn = create_tcp_dsmr_reader(host, port, version, on_telegram)
    transport, _ = await conn
    try:
        await asyncio.wait_for(done, 20)
    finally:
        transport.close()
    print(json.dumps({"telegrams": telegrams}))


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
