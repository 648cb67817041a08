"""Browse for Bourse brokers with python-zeroconf, an mDNS implementation
independent of Bourse's own, and print one JSON line per event:

    {"event": "added", "name": ..., "port": ..., "addresses": [...], "txt": {...}}
    {"event": "removed", "name": ...}

Runs until stdin closes (the caller ends it) or --seconds pass.
Used by tests/tests/mdns_netns.rs.
"""

import argparse
import json
import sys
import threading

from zeroconf import IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf

SERVICE_TYPE = "_bourse._tcp.local."


def emit(record):
    print(json.dumps(record), flush=True)


def on_change(zeroconf, service_type, name, state_change):
    if state_change is ServiceStateChange.Removed:
        emit({"event": "removed", "name": name})
        return
    if state_change is not ServiceStateChange.Added:
        return
    info = zeroconf.get_service_info(service_type, name, timeout=3000)
    if info is None:
        emit({"event": "unresolved", "name": name})
        return
    txt = {
        key.decode(): (value.decode() if value is not None else None)
        for key, value in info.properties.items()
    }
    emit(
        {
            "event": "added",
            "name": name,
            "port": info.port,
            "server": info.server,
            "addresses": info.parsed_addresses(),
            "txt": txt,
        }
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()

    zc = Zeroconf(ip_version=IPVersion.V4Only)
    browser = ServiceBrowser(zc, SERVICE_TYPE, handlers=[on_change])
    emit({"event": "browsing", "type": SERVICE_TYPE})
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait(args.seconds)
    browser.cancel()
    zc.close()


if __name__ == "__main__":
    main()
