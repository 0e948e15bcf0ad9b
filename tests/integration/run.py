#!/usr/bin/python3
"""Runs the integration suite: every tests/integration/test_*.py.

    /usr/bin/python3 tests/integration/run.py [--valgrind] [-v] [NAME...]

NAME selects a module, class or test (test_http, test_http.HttpTests,
test_http.HttpTests.test_404_problem).  Prints one line per test and ends
with exactly "N passed, N failed" (", N skipped" when tests were skipped);
exits 1 when any test failed or errored.  Daemons and temporary directories
are removed whatever happens.  Standard library only.
"""

import argparse
import os
import sys
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class Result(unittest.TestResult):
    """Prints each outcome as it happens."""

    def __init__(self, stream, verbose):
        super().__init__()
        self.stream = stream
        self.verbose = verbose
        self.passed = 0
        self._t0 = 0.0
        self._reported = False
        self._subtest_failed = False

    def _line(self, test, word, extra=""):
        self._reported = True
        dt = time.monotonic() - self._t0
        self.stream.write("%-7s %s (%.2fs)%s\n" % (word, _name(test), dt, extra))
        self.stream.flush()

    def startTest(self, test):
        super().startTest(test)
        self._t0 = time.monotonic()
        self._reported = False
        self._subtest_failed = False

    def stopTest(self, test):
        # A test whose subtests failed gets neither addSuccess nor addFailure.
        if not self._reported and self._subtest_failed:
            self._line(test, "FAIL")
        super().stopTest(test)

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        self._line(test, "ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(test, "FAIL")

    def addError(self, test, err):
        super().addError(test, err)
        self._line(test, "ERROR")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(test, "skip", ": " + reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed += 1
        self._line(test, "ok", " (expected failure)")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._line(test, "FAIL", " (unexpected success)")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._subtest_failed = True
            word = "FAIL" if issubclass(err[0], test.failureException) else "ERROR"
            self.stream.write("  %s %s\n" % (word, subtest._subDescription()))
            self.stream.flush()


def _name(test):
    tid = test.id()
    return tid[len("__main__."):] if tid.startswith("__main__.") else tid


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--valgrind", action="store_true",
                    help="run every daemon under valgrind (slow)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("names", nargs="*", help="modules, classes or tests")
    args = ap.parse_args()

    if args.valgrind:
        os.environ["CCX_TEST_VALGRIND"] = "1"
    sys.path.insert(0, HERE)
    import harness  # after the environment is set

    harness.install_signal_cleanup()
    for path in (harness.BROKER_BIN, harness.ADMIN_BIN):
        if not os.access(path, os.X_OK):
            print("missing %s: run `make all` first" % path)
            print("0 passed, 1 failed")
            return 1

    loader = unittest.TestLoader()
    if args.names:
        suite = loader.loadTestsFromNames(args.names)
    else:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)

    result = Result(sys.stdout, args.verbose)
    t0 = time.monotonic()
    try:
        suite.run(result)
    except KeyboardInterrupt:
        result.errors.append((unittest.FunctionTestCase(lambda: None),
                              "interrupted\n"))
        print("interrupted")
    finally:
        harness.cleanup_all()

    problems = result.failures + result.errors
    if problems:
        print()
        for test, tb in problems:
            print("=" * 70)
            print("%s: %s" % ("FAIL" if (test, tb) in result.failures else "ERROR",
                              _name(test)))
            print("-" * 70)
            print(tb.rstrip())
        print("=" * 70)
    # Count tests, not subtests: a test with three failing subtests is one
    # failed test.
    failed_ids = {getattr(test, "test_case", test).id() for test, _ in problems}
    failed = len(failed_ids) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    if result.testsRun == 0:
        failed += 1
        print("no tests found")
    print("(%d tests in %.1fs%s)" % (result.testsRun, time.monotonic() - t0,
                                     ", under valgrind" if harness.VALGRIND else ""))
    line = "%d passed, %d failed" % (result.passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)
    sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        print("0 passed, 1 failed")
        sys.exit(1)
