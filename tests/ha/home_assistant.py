"""A real Home Assistant Core adds p1ib through its own config flows.

  home_assistant.py WEB_HOST:PORT RAW_PORT DSMR_VERSION

Starts Home Assistant in this process (a fresh config directory, nothing but its
core and the integrations the flows load), adds p1ib as the user would in
Settings > Devices & services with the HomeWizard (its address), Shelly (host
and port) and DSMR Smart Meter ("Network", host, port, version) integrations,
waits until each has a numeric power and energy entity, and prints one JSON line:
per integration, how its flow ended, the entry's state and its entities with
their states, device classes and units. Talks only to the given addresses.
"""

import asyncio
import json
import pathlib
import sys
import tempfile
import time

# Home Assistant's core settings for the test home: metric, UTC, no location
# lookups.
CONFIGURATION = """homeassistant:
  name: p1ib test
  latitude: 59.3
  longitude: 18.0
  elevation: 0
  unit_system: metric
  time_zone: UTC
  currency: SEK
  country: SE
"""


async def add(hass, domain, steps):
    """Runs a user-started config flow through `steps`; its end and the steps seen."""
    result = await hass.config_entries.flow.async_init(domain, context={"source": "user"})
    trail = [result.get("step_id")]
    for data in steps:
        if result["type"] != "form":
            break
        result = await hass.config_entries.flow.async_configure(result["flow_id"], data)
        trail.append(result.get("step_id") or str(result["type"]))
    return {
        "type": str(result["type"]),
        "trail": trail,
        "errors": result.get("errors"),
        "reason": result.get("reason"),
    }


def entities(hass, registry, entry):
    out = []
    from homeassistant.helpers import entity_registry as er

    for e in er.async_entries_for_config_entry(registry, entry.entry_id):
        state = hass.states.get(e.entity_id)
        out.append({
            "entity_id": e.entity_id,
            "state": None if state is None else state.state,
            "device_class": None if state is None else state.attributes.get("device_class"),
            "unit": None if state is None else state.attributes.get("unit_of_measurement"),
        })
    return out


def numeric(entities, device_class):
    for e in entities:
        if e["device_class"] == device_class:
            try:
                float(e["state"])
                return True
            except (TypeError, ValueError):
                pass
    return False


async def main(web, raw_port, dsmr_version):
    from homeassistant import bootstrap, runner
    from homeassistant.helpers import entity_registry as er

    config_dir = tempfile.mkdtemp(prefix="p1ib-ha-")
    pathlib.Path(config_dir, "configuration.yaml").write_text(CONFIGURATION)
    hass = await bootstrap.async_setup_hass(
        runner.RuntimeConfig(config_dir=config_dir, skip_pip=True, safe_mode=False))
    await hass.async_start()
    host, port = web.rsplit(":", 1)
    flows = {}
    for domain, steps in [
        ("homewizard", [{"ip_address": web}]),
        ("shelly", [{"host": host, "port": int(port)}]),
        ("dsmr", [{"type": "Network"},
                  {"host": host, "port": raw_port, "dsmr_version": dsmr_version}]),
    ]:
        flows[domain] = await add(hass, domain, steps)
    await hass.async_block_till_done()

    # Entities appear as each integration reads p1ib (DSMR's after its first
    # telegram with the meter's time): wait for numbers, at most a minute.
    registry = er.async_get(hass)
    started = time.monotonic()
    while True:
        out = {}
        for entry in hass.config_entries.async_entries():
            if entry.domain in flows:
                ents = entities(hass, registry, entry)
                out[entry.domain] = {
                    "flow": flows[entry.domain],
                    "state": str(entry.state),
                    "entities": ents,
                    "numeric_power": numeric(ents, "power"),
                    "numeric_energy": numeric(ents, "energy"),
                }
        for domain, flow in flows.items():
            out.setdefault(domain, {"flow": flow, "state": None, "entities": [],
                                    "numeric_power": False, "numeric_energy": False})
        done = all(v["numeric_power"] and v["numeric_energy"] for v in out.values())
        if done or time.monotonic() - started > 60:
            break
        await asyncio.sleep(0.5)
    out["seconds"] = round(time.monotonic() - started, 1)
    await hass.async_stop()
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
