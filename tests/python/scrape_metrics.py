"""Scrape a Bourse broker's /metrics and parse it with the official
Prometheus Python client's parser, a reader of the text format independent
of Bourse. Prints one JSON object:

    {"content_type": ..., "families": {NAME: {"type": ..., "help": ...,
     "samples": {SAMPLE_NAME: VALUE}}}}

Exits non-zero if the scrape fails or the parser rejects the text.
Used by tests/tests/metrics_scrape.rs.
"""

import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def main():
    url = sys.argv[1]
    with urllib.request.urlopen(url, timeout=5) as reply:
        content_type = reply.headers.get("Content-Type", "")
        text = reply.read().decode("utf-8")
    families = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = {
            "type": family.type,
            "help": family.documentation,
            "samples": {s.name: s.value for s in family.samples},
        }
    print(json.dumps({"content_type": content_type, "families": families}))


if __name__ == "__main__":
    main()
