#!/usr/bin/env python3
"""openmetrics.py FILE - checks that FILE (the output of `vmsvc stats
--format=openmetrics`) is OpenMetrics text by a real parser, and prints what
it holds as one JSON object for the tests to query (tests/lib/openmetrics.bash).

The parser is prometheus_client's (Debian: python3-prometheus-client):
prometheus_client.openmetrics.parser.text_string_to_metric_families, which
rejects what the format forbids (no "# EOF" at the end, a counter sample
without "_total", a family's samples split up, a unit the name does not end
with, bad escapes, ...). The same text must also pass the classic Prometheus
text parser (prometheus_client.parser), as node_exporter's textfile collector
reads it.

Output: {"families": {NAME: [TYPE, UNIT, HELP]}, "samples": {KEY: VALUE},
"ids": {"vm=NAME" or "service=NAME": ID}} where KEY is the sample's name and
its labels but id and guid, sorted: 'vmsvc_vm_state{state=stopped,vm=web}',
and ids gives each VM's id label and each service's guid label (one each).
Exits 1 with the parser's complaint when the text is not valid.
"""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as classic_parse


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        text = f.read()
    try:
        families = list(om_parse(text))
        list(classic_parse(text))
    except Exception as e:  # the parsers raise ValueError and others
        print(f"not valid OpenMetrics text: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    out = {"families": {}, "samples": {}, "ids": {}}
    for fam in families:
        out["families"][fam.name] = [fam.type, fam.unit, fam.documentation]
        for s in fam.samples:
            labels = dict(s.labels)
            for who, idl in (("vm", "id"), ("service", "guid")):
                if who in labels:
                    key = f"{who}={labels[who]}"
                    ident = labels.pop(idl, None)
                    if out["ids"].setdefault(key, ident) != ident:
                        print(f"{key} has two ids: {out['ids'][key]}, {ident}", file=sys.stderr)
                        sys.exit(1)
            key = s.name + "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"
            if key in out["samples"]:
                print(f"sample {key} twice", file=sys.stderr)
                sys.exit(1)
            out["samples"][key] = s.value
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
