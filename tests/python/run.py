"""run.py MODULE - run one unittest module for ctest (tests/CMakeLists.txt).

Exit 0 when every test passed, 1 on any failure or error, and 77 (ctest's
skip) when none failed but some were skipped: a test whose tool or data is
missing says so and never counts as passed."""

import sys
import unittest

name = sys.argv[1]
suite = unittest.defaultTestLoader.loadTestsFromName(name)
result = unittest.TextTestRunner(verbosity=2).run(suite)
if not result.wasSuccessful():
    sys.exit(1)
if result.testsRun == 0:
    print(f"run.py: {name} ran no tests", file=sys.stderr)
    sys.exit(1)
if result.skipped:
    for test, why in result.skipped:
        print(f"run.py: skipped {test.id()}: {why}", file=sys.stderr)
    sys.exit(77)
