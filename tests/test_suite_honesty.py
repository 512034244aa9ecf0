"""The test suite checks itself: no test that passes whatever the code does, found by reading its syntax tree."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# Calls that fail the test on their own: pytest's checks, and the polling helper that raises on timeout.
CHECKING_CALLS = frozenset({"raises", "fail", "warns", "wait_until", "assertRaises"})


@dataclass(frozen=True)
class Finding:
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(TESTS.rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _checks_directly(function: ast.AST) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Call) and _called_name(node) in CHECKING_CALLS:
            return True
        if isinstance(node, ast.Call) and _called_name(node).startswith(("assert", "django_assert", "_assert")):
            return True
        if isinstance(node, ast.With) and any(
            isinstance(item.context_expr, ast.Call) and _called_name(item.context_expr).startswith("django_assert")
            for item in node.items
        ):
            return True
    return False


def _checking_helpers(trees: list[ast.Module]) -> set[str]:
    """Names of functions anywhere under tests/ that check something, directly or through another helper."""
    bodies: dict[str, list[ast.AST]] = {}
    for tree in trees:
        for function in _functions(tree):
            bodies.setdefault(function.name, []).append(function)
    checking = {name for name, defs in bodies.items() if any(_checks_directly(d) for d in defs)}
    changed = True
    while changed:
        changed = False
        for name, defs in bodies.items():
            if name in checking:
                continue
            for function in defs:
                calls = {_called_name(n) for n in ast.walk(function) if isinstance(n, ast.Call)}
                if calls & checking:
                    checking.add(name)
                    changed = True
                    break
    return checking


def _is_test(function: ast.AST, path: Path) -> bool:
    return path.name.startswith("test_") and function.name.startswith("test_")


def _unchecked_tests(trees: dict[Path, ast.Module]) -> Iterator[Finding]:
    helpers = _checking_helpers(list(trees.values()))
    for path, tree in trees.items():
        for function in _functions(tree):
            if not _is_test(function, path) or _checks_directly(function):
                continue
            calls = {_called_name(n) for n in ast.walk(function) if isinstance(n, ast.Call)}
            if not calls & helpers:
                where = f"{path.relative_to(TESTS.parent)}:{function.lineno} {function.name}"
                yield Finding(where, "asserts nothing (no assert, pytest.raises/fail or checking helper)")


def _same(a: ast.AST, b: ast.AST) -> bool:
    return ast.dump(a) == ast.dump(b)


def _reads_itself(compare: ast.Compare) -> bool:
    """`x == x`, or an expected value that is read back from the actual one (`x == {"ms": x["ms"]}`)."""
    sides = [compare.left, *compare.comparators]
    for i, left in enumerate(sides):
        for right in sides[i + 1 :]:
            if _same(left, right):
                return True
            for one, other in ((left, right), (right, left)):
                parts = (node.value for node in ast.walk(other) if isinstance(node, ast.Subscript | ast.Attribute))
                if any(_same(part, one) for part in parts):
                    return True
    return False


def _always_true(test: ast.expr) -> str:
    if isinstance(test, ast.Constant) and test.value:
        return "asserts a constant"
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        for operand in test.values:
            if isinstance(operand, ast.Constant) and operand.value:
                return "`or <constant>` makes the assert always pass"
            if (
                isinstance(operand, ast.Compare)
                and len(operand.ops) == 1
                and isinstance(operand.ops[0], ast.Is)
                and isinstance(operand.comparators[0], ast.Constant)
                and operand.comparators[0].value is None
            ):
                return "`x is None or ...` accepts the value that means the check never happened"
    if isinstance(test, ast.Compare) and _reads_itself(test):
        return "compares a value with itself"
    return ""


def _always_true_asserts(trees: dict[Path, ast.Module]) -> Iterator[Finding]:
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Assert) and (problem := _always_true(node.test)):
                yield Finding(f"{path.relative_to(TESTS.parent)}:{node.lineno}", problem)


def _asserted_poll_results(trees: dict[Path, ast.Module]) -> Iterator[Finding]:
    """`found = wait_until(...)` then `assert found`: wait_until only ever returns a truthy value."""
    for path, tree in trees.items():
        for function in _functions(tree):
            polled = set()
            for node in ast.walk(function):
                if (
                    isinstance(node, ast.Assign)
                    and isinstance(node.value, ast.Call)
                    and _called_name(node.value) == "wait_until"
                ):
                    polled |= {target.id for target in node.targets if isinstance(target, ast.Name)}
            for node in ast.walk(function):
                if isinstance(node, ast.Assert) and isinstance(node.test, ast.Name) and node.test.id in polled:
                    where = f"{path.relative_to(TESTS.parent)}:{node.lineno}"
                    yield Finding(where, f"asserts {node.test.id!r}, which wait_until always returns truthy")


def _after_a_bounded_wait(trees: dict[Path, ast.Module]) -> Iterator[Finding]:
    """`wait_until(..., timeout=N)` followed by `assert elapsed < N`: the wait already guarantees it."""
    for path, tree in trees.items():
        for function in _functions(tree):
            timeouts = set()
            for node in ast.walk(function):
                if isinstance(node, ast.Call) and _called_name(node) == "wait_until":
                    for keyword in node.keywords:
                        if keyword.arg == "timeout" and isinstance(keyword.value, ast.Constant):
                            timeouts.add(keyword.value.value)
            for node in ast.walk(function):
                if not (isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare)):
                    continue
                test = node.test
                bound = test.comparators[-1]
                mentions_time = "monotonic" in ast.dump(test.left) or "elapsed" in ast.dump(test.left)
                if (
                    mentions_time
                    and isinstance(test.ops[-1], ast.Lt | ast.LtE)
                    and isinstance(bound, ast.Constant)
                    and bound.value in timeouts
                ):
                    where = f"{path.relative_to(TESTS.parent)}:{node.lineno}"
                    yield Finding(where, f"bounds the elapsed time by the timeout ({bound.value} s) of its own wait")


def _imported_as_tests(trees: dict[Path, ast.Module]) -> Iterator[Finding]:
    """A helper named ``test_*`` imported into a test module is collected and "passes" as a test."""
    for path, tree in trees.items():
        if not path.name.startswith("test_"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if (alias.asname or alias.name).startswith("test_"):
                        where = f"{path.relative_to(TESTS.parent)}:{node.lineno} {alias.name}"
                        yield Finding(where, "imports a helper that pytest collects as a test")


def _trees() -> dict[Path, ast.Module]:
    return dict(_modules())


@pytest.fixture(scope="module")
def trees() -> dict[Path, ast.Module]:
    return _trees()


def test_every_test_checks_something(trees):
    findings = [str(f) for f in [*_unchecked_tests(trees), *_imported_as_tests(trees)]]
    assert findings == []


def test_no_assert_passes_whatever_the_values(trees):
    findings = [str(f) for f in _always_true_asserts(trees)]
    assert findings == []


def test_no_assert_on_what_polling_always_returns(trees):
    findings = [str(f) for f in [*_asserted_poll_results(trees), *_after_a_bounded_wait(trees)]]
    assert findings == []


# The scan itself can fail: each pattern it exists for is found in a sample written the wrong way.
LYING_SAMPLES = [
    ("asserts nothing", "def test_x(client):\n    client.get('/')\n"),
    ("compares a value with itself", "def test_x(r):\n    assert r['a'] == {'ms': r['a']['ms']}\n"),
    ("compares a value with itself", "def test_x():\n    assert 'ms' == 'ms'\n"),
    ("x is None or", "def test_x(d):\n    assert d is None or d >= 2\n"),
    ("always pass", "def test_x(d):\n    assert d or True\n"),
    ("always returns truthy", "def test_x():\n    found = wait_until(lambda: 1, timeout=30)\n    assert found\n"),
    (
        "of its own wait",
        "def test_x():\n    s = time.monotonic()\n    wait_until(f, timeout=30)\n"
        "    assert time.monotonic() - s < 30\n",
    ),
    ("collects as a test", "from tests.support.processes import test_database_url\n"),
]


@pytest.mark.parametrize(("problem", "source"), LYING_SAMPLES)
def test_the_scan_finds_each_pattern(problem, source):
    sample = {TESTS / "test_sample.py": ast.parse(source)}
    findings = [
        *_unchecked_tests(sample),
        *_imported_as_tests(sample),
        *_always_true_asserts(sample),
        *_asserted_poll_results(sample),
        *_after_a_bounded_wait(sample),
    ]
    assert [f.problem for f in findings if problem in f.problem] != []
