"""The counts of a schemathesis run (`run_schemathesis` in tools/lib.sh, for `make test` and
`make fuzz-api`), from its JSON report and its output.

    python3 tools/schemathesis_summary.py REPORT.json OUTPUT.log [openapi.yaml]

Prints what the book's "The test suites" page (docs/src/development/testing.md) reports:
operations that answered a success with the hook's credentials, the share of generated
(positive) requests the API accepted, the stateful scenarios and links, and the failures.
"Accepted" counts requests answered 2xx among the positive ones whose answer speaks to their
data (schemathesis' own classification: 401, 403, 429 and 5xx say nothing about the data and
are left out), over the operations that can succeed at all (not the methods listed only to
document their 405).
"""

import json
import re
import sys
from pathlib import Path

import yaml

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def operations(document):
    """label -> operation object, path items' references resolved."""
    items = {}
    for path, item in document["paths"].items():
        while "$ref" in item:
            node = document
            for part in item["$ref"][2:].split("/"):
                node = node[part]
            item = node
        for method in METHODS:
            if method in item:
                items[f"{method.upper()} {path}"] = item[method]
    return items


def can_succeed(operation):
    return any(str(status).startswith("2") for status in operation.get("responses", {}))


def main(report_path, log_path, openapi_path):
    report = json.loads(Path(report_path).read_text())
    log = Path(log_path).read_text()
    ops = operations(yaml.safe_load(Path(openapi_path).read_text()))
    protected = {label for label, op in ops.items() if op.get("security")}

    accepted = total = 0
    served = set()
    for label, phases in report["valid_rates"].items():
        if label not in ops or not can_succeed(ops[label]):
            continue
        for rate in phases.values():
            accepted += rate["accepted"]
            total += rate["accepted"] + rate["rejected"] + rate["unreachable"] + rate["conflicts"]
            if rate["accepted"]:
                served.add(label)
    with_credentials = sorted(protected & served)
    # Stateful success paths count too (an operation may only succeed through a link).
    scenarios = re.search(r"Scenarios:\s+(\d+)", log)
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected / (\d+) total", log)
    failures = sum(group["count"] for group in report["failures"])

    print(f"schemathesis: {report['test_cases']['generated']} generated cases, "
          f"{report['operations']['tested']} of {report['operations']['selected']} operations tested, "
          f"{failures} failures, {report['running_time']:.0f} s")
    print(f"  valid credentials: {len(with_credentials)} of {len(protected)} protected operations "
          f"answered 2xx: {', '.join(with_credentials) or 'none'}")
    share = f"{100 * accepted / total:.0f}%" if total else "n/a"
    below = []
    for label in sorted(report["valid_rates"]):
        if label in ops and can_succeed(ops[label]):
            rates = report["valid_rates"][label].values()
            a = sum(r["accepted"] for r in rates)
            t = sum(r["accepted"] + r["rejected"] + r["unreachable"] + r["conflicts"] for r in rates)
            if a < t:
                below.append(f"{label} {a}/{t}")
    print(f"  accepted: {accepted} of {total} positive requests that can succeed ({share})"
          + (f"; below 100%: {', '.join(below)}" if below else ""))
    hook = re.search(r"credentials hook: .*", log)
    if hook:
        print(f"  {hook.group(0)}")
    if scenarios:
        covered = f", {links.group(1)} of {links.group(3)} links followed" if links else ""
        print(f"  stateful: {scenarios.group(1)} scenarios{covered}")
    else:
        print("  stateful: not run")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "openapi.yaml")
