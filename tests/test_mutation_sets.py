"""`make mutate`'s sets name functions and tests that exist: a module moved by a refactoring fails here, at once,
not as an empty or skewed mutation score later."""

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("mutate", ROOT / "scripts" / "mutate.py")
assert spec and spec.loader
mutate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mutate)


def defined(path: Path) -> set[str]:
    """`name` and `Class.method` for every function in the module (nested functions excluded)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found.add(node.name)
        elif isinstance(node, ast.ClassDef):
            found |= {
                f"{node.name}.{n.name}" for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            }
    return found


@pytest.mark.parametrize("selected", mutate.SETS, ids=lambda s: s.name)
def test_every_function_and_test_file_of_a_set_exists(selected: object) -> None:
    missing = []
    for function in selected.functions:  # type: ignore[attr-defined]
        path, name = function.split(":")
        if not (ROOT / path).exists() or name not in defined(ROOT / path):
            missing.append(function)
    missing += [test for test in selected.tests if not (ROOT / test).exists()]  # type: ignore[attr-defined]
    assert missing == []


def test_a_decorated_function_keeps_its_decorators_and_calls_its_held_body() -> None:
    source = "class A:\n    @property\n    def b(self) -> int:\n        return 1 if self else 2\n"
    exposed = mutate.expose_decorated(source, {"A.b"})
    namespace: dict[str, object] = {}
    exec(compile(exposed, "exposed", "exec"), namespace)
    assert "    @property\n    def b(self) -> int:\n        return _held_A_b(self)\n" in exposed
    assert "def _held_A_b(self) -> int:\n    return 1 if self else 2\n" in exposed
    assert namespace["A"]().b == 1  # type: ignore[operator, attr-defined]


def test_mutant_names_read_back_as_the_functions_they_mutate() -> None:
    assert mutate.function_of("runbook.results.x_gate__mutmut_3") == "gate"
    assert mutate.function_of("runbook.slack.approval.xǁApproverCheckǁallowed__mutmut_12") == "ApproverCheck.allowed"
    assert mutate.function_of("runbook.results.x__held_RunReport_verdict__mutmut_1") == "RunReport.verdict"
