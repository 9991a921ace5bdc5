"""Reads the output of `cargo test` (libtest's plain format, any order of lines) and prints
a pass/fail table per suite (the test's first path segment: join, login, races, ...), then
the name and the assertion of every failed test. Exit status 1 if any test failed or if the
output holds no test at all (a run that tested nothing is no smoke test)."""

import collections
import re
import sys

RESULT = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)$")


def main(path):
    text = open(path, encoding="utf-8", errors="replace").read()
    counts = collections.defaultdict(collections.Counter)
    failed = []
    for line in text.splitlines():
        match = RESULT.match(line.strip())
        if match:
            name, outcome = match.groups()
            counts[name.split("::")[0]][outcome] += 1
            if outcome == "FAILED":
                failed.append(name)
    if not counts:
        print(text[-4000:])
        print("smoke: no test ran")
        return 1
    print(f"\n{'suite':<18}{'passed':>8}{'failed':>8}")
    for suite in sorted(counts):
        print(f"{suite:<18}{counts[suite]['ok']:>8}{counts[suite]['FAILED']:>8}")
    total = sum((c for c in counts.values()), collections.Counter())
    print(f"{'all':<18}{total['ok']:>8}{total['FAILED']:>8}\n")
    for name in failed:
        # libtest prints each failure's panic message under "---- NAME stdout ----".
        block = re.search(r"---- " + re.escape(name) + r" stdout ----\n(.*?)(?=\n---- |\nfailures:\n)", text, re.S)
        print(f"FAILED {name}\n{block.group(1).strip() if block else ''}\n")
    print(f"{total['ok']} passed, {total['FAILED']} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
