"""A real Home Assistant Core that p1ib writes its statistics into.

  statistics.py CONFIG_DIR PORT

Runs Home Assistant (its core, http, websocket_api, recorder and energy; the
time zone Europe/Stockholm, currency SEK) serving 127.0.0.1:PORT, with the
configuration and database in CONFIG_DIR, so that a second run continues the
first (an outage of Home Assistant). On the first run it makes an administrator
and a long-lived access token, kept in CONFIG_DIR/token. Prints one JSON line
when it is serving ({"ready": true, "token": ..., "version": ...}), then answers
one JSON command per line of stdin with one JSON line:

  {"cmd": "stats", "ids": [...], "start": MS, "end": MS}
      -> {"rows": {id: [[start_ms, sum, state], ...]}, "ids": [every statistic id]}
  {"cmd": "validate", "from": ID, "to": ID, "cost": ID|null, "compensation": ID|null}
      -> the Energy dashboard's validation with those as its grid source
  {"cmd": "revoke"}   -> {"revoked": true} (the token no longer works)
  {"cmd": "stop"}     -> {"stopped": true}, and Home Assistant stops
"""

import asyncio
import datetime
import json
import pathlib
import sys

CONFIGURATION = """homeassistant:
  name: p1ib statistics test
  latitude: 59.3
  longitude: 18.0
  elevation: 0
  unit_system: metric
  time_zone: Europe/Stockholm
  currency: SEK
  country: SE
http:
  server_host: 127.0.0.1
  server_port: {port}
recorder:
  commit_interval: 1
  auto_purge: false
websocket_api:
energy:
"""


async def token_of(hass, config_dir):
    """The long-lived token of the test's administrator, made on the first run."""
    from homeassistant.auth.const import GROUP_ID_ADMIN
    from homeassistant.auth.models import TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN

    path = pathlib.Path(config_dir, "token")
    if path.exists():
        return (await hass.async_add_executor_job(path.read_text)).strip()
    user = await hass.auth.async_create_user("p1ib test", group_ids=[GROUP_ID_ADMIN])
    refresh = await hass.auth.async_create_refresh_token(
        user,
        client_name="p1ib",
        token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
        access_token_expiration=datetime.timedelta(days=3650),
    )
    token = hass.auth.async_create_access_token(refresh)
    await hass.async_add_executor_job(path.write_text, token)
    return token


async def stats(hass, msg):
    from homeassistant.components.recorder import get_instance
    from homeassistant.components.recorder.statistics import (
        list_statistic_ids,
        statistics_during_period,
    )

    instance = get_instance(hass)
    await instance.async_block_till_done()
    start = datetime.datetime.fromtimestamp(msg["start"] / 1000, datetime.UTC)
    end = datetime.datetime.fromtimestamp(msg["end"] / 1000, datetime.UTC)
    rows = await instance.async_add_executor_job(
        statistics_during_period, hass, start, end, set(msg["ids"]), "hour", None,
        {"sum", "state"})
    listed = await instance.async_add_executor_job(list_statistic_ids, hass)
    return {
        "rows": {
            sid: [[int(r["start"] * 1000) if r["start"] < 1e11 else int(r["start"]),
                   r.get("sum"), r.get("state")] for r in series]
            for sid, series in rows.items()
        },
        "ids": sorted(s["statistic_id"] for s in listed),
    }


async def validate(hass, msg):
    from homeassistant.components.energy import data
    from homeassistant.components.energy.validate import async_validate

    manager = await data.async_get_manager(hass)
    await manager.async_update({
        "energy_sources": [{
            "type": "grid",
            "flow_from": [{"stat_energy_from": msg["from"], "stat_cost": msg.get("cost"),
                           "entity_energy_price": None, "number_energy_price": None}],
            "flow_to": [{"stat_energy_to": msg["to"], "stat_compensation": msg.get("compensation"),
                         "entity_energy_price": None, "number_energy_price": None}],
            "cost_adjustment_day": 0,
        }],
    })
    result = await async_validate(hass)
    return result.as_dict()


async def revoke(hass):
    for user in await hass.auth.async_get_users():
        for refresh in list(user.refresh_tokens.values()):
            if refresh.client_name == "p1ib":
                hass.auth.async_remove_refresh_token(refresh)
    return {"revoked": True}


async def main(config_dir, port):
    from homeassistant import bootstrap, runner
    from homeassistant.const import __version__

    # Home Assistant's web frontend (a package of its own, ~50 MB) is not
    # installed: nothing here needs it, so it is neither set up nor critical.
    bootstrap.DEFAULT_INTEGRATIONS.discard("frontend")
    bootstrap.CRITICAL_INTEGRATIONS.discard("frontend")

    pathlib.Path(config_dir).mkdir(parents=True, exist_ok=True)
    pathlib.Path(config_dir, "configuration.yaml").write_text(CONFIGURATION.format(port=port))
    hass = await bootstrap.async_setup_hass(
        runner.RuntimeConfig(config_dir=config_dir, skip_pip=True, safe_mode=False))
    await hass.async_start()
    token = await token_of(hass, config_dir)
    print(json.dumps({"ready": True, "token": token, "version": __version__}), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        msg = json.loads(line)
        if msg["cmd"] == "stats":
            out = await stats(hass, msg)
        elif msg["cmd"] == "validate":
            out = await validate(hass, msg)
        elif msg["cmd"] == "revoke":
            out = await revoke(hass)
        else:
            break
        print(json.dumps(out), flush=True)
    await hass.async_stop()
    print(json.dumps({"stopped": True}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
