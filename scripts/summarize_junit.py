"""Print one line per backend and a total from pytest's JUnit XML files."""

import os
import sys
import xml.etree.ElementTree as ET


def main(paths):
    total = {"passed": 0, "failed": 0, "skipped": 0}
    if not paths:
        print("no test results found")
        return 1
    for path in paths:
        root = ET.parse(path).getroot()
        suites = [root] if root.tag == "testsuite" else list(root)
        tests = sum(int(s.get("tests", 0)) for s in suites)
        failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
        skipped = sum(int(s.get("skipped", 0)) for s in suites)
        passed = tests - failed - skipped
        name = os.path.splitext(os.path.basename(path))[0]
        print(f"{name:>10}: {passed} passed, {failed} failed, {skipped} skipped")
        for key, value in (("passed", passed), ("failed", failed), ("skipped", skipped)):
            total[key] += value
    print(f"total: {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped")
    return 1 if total["failed"] or not total["passed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
