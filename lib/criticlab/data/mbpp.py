"""MBPP (original layout) and MBPP+ (EvalPlus) loaders.

MBPP rows carry ``assert`` strings; each becomes an ``assert`` test and ``test_setup_code``
becomes :attr:`Problem.test_setup`. The function name is not in the task text, so the question
is the text followed by the first test assert (the layout EvalPlus uses for its MBPP+ prompts).

MBPP+ on the hub (``evalplus/mbppplus``) holds its base and plus inputs, the expected results and
a per-problem tolerance inside a Python test program (``test``). That program is parsed with
:mod:`ast` (never executed): ``inputs = [...]`` and ``results = [...]`` are read as literals, and
the loop ``assertion(fn(*inp), exp, atol)`` gives the entry point and the tolerance. Each input
becomes a ``call`` test with ``atol`` set when the problem declares one. When the loop body does
something else (wraps the call in ``set(...)``, say) or a value is not JSON-representable (a set,
a complex number), each input becomes an ``assert`` test that replays the loop body for that
input, with the program's helpers (``assertion``, imports) in :attr:`Problem.test_setup`.
"""

from __future__ import annotations

import ast
import builtins
import math
import re
from pathlib import Path
from typing import Any

from criticlab.data.loading import (
    LoadResult,
    SkipRow,
    collect,
    iter_local_rows,
    iter_rows,
    optional,
    require,
    to_json_value,
)
from criticlab.data.shipped import MBPP, shipped_file
from criticlab.data.types import Problem, Test

MBPP_HUB_ID = "google-research-datasets/mbpp"
MBPP_SHIPPED = "mbpp"
"""Where MBPP is read from by default: the copy shipped with the package (offline; see
:mod:`criticlab.data.shipped`). Pass :data:`MBPP_HUB_ID` or a local path to read another."""
MBPP_SPLITS = {
    "prompt": range(1, 11),
    "test": range(11, 511),
    "validation": range(511, 601),
    "train": range(601, 975),
}
"""MBPP's upstream splits, by task_id (the hub's ``full`` configuration uses the same ranges)."""
MBPPPLUS_HUB_ID = "evalplus/mbppplus"

_BUILTINS = set(dir(builtins))


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def defined_functions(code: str) -> list[str]:
    """Top-level function names defined by ``code`` (in order); [] when it does not parse."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return [m.group(1) for m in re.finditer(r"^def\s+([A-Za-z_]\w*)\s*\(", code, re.MULTILINE)]
    return [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def called_functions(code: str) -> list[str]:
    """Names called in ``code``, in source order (``f`` in ``assert f(1) == 2``)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return re.findall(r"([A-Za-z_]\w*)\s*\(", code)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    calls.sort(key=lambda n: (n.lineno, n.col_offset))
    return [n.func.id for n in calls]


def guess_entry_point(tests: list[str], code: str) -> str:
    """The function the tests call: the first called name the solution defines, else the first
    called name that is not a builtin, else the solution's first function."""
    defined = defined_functions(code)
    called = [name for test in tests for name in called_functions(test)]
    for name in called:
        if name in defined:
            return name
    for name in called:
        if name not in _BUILTINS:
            return name
    if defined:
        return defined[0]
    raise SkipRow("no entry point", "neither the tests nor the solution name a function")


def safe_literal(node: ast.AST) -> Any:
    """Evaluate a literal expression without running code.

    Like :func:`ast.literal_eval`, plus the names ``inf``/``nan`` and ``float('inf')``-style calls
    that EvalPlus test data uses. Anything else raises ``ValueError``.
    """
    if isinstance(node, ast.Expression):
        return safe_literal(node.body)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List):
        return [safe_literal(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(safe_literal(e) for e in node.elts)
    if isinstance(node, ast.Set):
        return {safe_literal(e) for e in node.elts}
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise ValueError("dict unpacking is not a literal")
        return {safe_literal(k): safe_literal(v) for k, v in zip(node.keys, node.values, strict=False)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = safe_literal(node.operand)
        if not isinstance(value, (int, float, complex)) or isinstance(value, bool):
            raise ValueError("unary sign on a non-number")
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        left, right = safe_literal(node.left), safe_literal(node.right)
        if isinstance(right, complex) and isinstance(left, (int, float)) and not isinstance(left, bool):
            return left + right if isinstance(node.op, ast.Add) else left - right
        raise ValueError("only complex literals may use + or -")
    if isinstance(node, ast.Name) and node.id in ("inf", "nan"):
        return math.inf if node.id == "inf" else math.nan
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "float"
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
        and node.args[0].value.strip().lower().lstrip("+-") in ("inf", "infinity", "nan")
    ):
        return float(node.args[0].value)
    raise ValueError(f"not a literal: {ast.unparse(node)[:60]}")


def _question(text: str, tests: list[str]) -> str:
    text = text.strip()
    if tests and "assert" not in text:
        return f"{text}\n{tests[0].strip()}"
    return text


def _clean_code(code: str) -> str:
    return code.replace("\r\n", "\n")


# --------------------------------------------------------------------------------------------
# MBPP
# --------------------------------------------------------------------------------------------


def convert_mbpp_row(row: dict[str, Any], index: int) -> Problem:
    """An MBPP row (task_id, text | prompt, code, test_list, test_setup_code, challenge_test_list)."""
    task_id = require(row, "task_id", (int, str))
    text = row.get("text") if row.get("text") is not None else row.get("prompt")
    if not isinstance(text, str) or not text.strip():
        raise SkipRow("missing field 'text'")
    tests = require(row, "test_list", list)
    if not tests or not all(isinstance(t, str) and t.strip() for t in tests):
        raise SkipRow("no usable tests", "test_list is empty or holds non-strings")
    code = _clean_code(optional(row, "code", "", str))
    imports = "\n".join(str(i) for i in optional(row, "test_imports", [], list))  # the sanitized config
    setup_parts = [imports, optional(row, "test_setup_code", "", str)]
    challenge = [
        t for t in optional(row, "challenge_test_list", [], list) if isinstance(t, str) and t.strip()
    ]
    return Problem(
        id=f"mbpp/{task_id}",
        source="mbpp",
        question=_question(text, tests),
        kind="functional",
        tests=[Test(kind="assert", code=t) for t in tests],
        entry_point=guess_entry_point(tests, code),
        solutions=[code] if code.strip() else [],
        test_setup="\n".join(p for p in setup_parts if p.strip()),
        metadata={"task_id": task_id, "challenge_tests": challenge},
    )


def load_mbpp(
    path: str | Path = MBPP_SHIPPED,
    *,
    split: str = "test",
    revision: str | None = None,
    config_name: str | None = "full",
    limit: int | None = None,
) -> LoadResult[Problem]:
    """Load one MBPP split: by default the shipped copy (offline, checksum-verified), else a local
    file in the original ``mbpp.jsonl`` layout or the hub."""
    if str(path) == MBPP_SHIPPED:
        if split not in MBPP_SPLITS:
            raise ValueError(f"MBPP has no split {split!r}; its splits are {sorted(MBPP_SPLITS)}")
        file = shipped_file(MBPP)
        ids = MBPP_SPLITS[split]
        rows = (
            (where, row)
            for where, row in iter_local_rows(file)
            if not isinstance(row, dict) or row.get("task_id") in ids
        )
        return collect("mbpp", f"{file} ({split})", rows, convert_mbpp_row, limit=limit)
    location, rows = iter_rows(path, split=split, revision=revision, config_name=config_name)
    return collect("mbpp", location, rows, convert_mbpp_row, limit=limit)


# --------------------------------------------------------------------------------------------
# MBPP+
# --------------------------------------------------------------------------------------------


def _loop_names(target: ast.AST) -> tuple[str, str]:
    """The input and expected-value names of ``for i, (inp, exp) in enumerate(zip(...))``."""
    names = [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    if len(names) < 2:
        raise SkipRow("unrecognised MBPP+ test program", "the test loop does not bind (input, expected)")
    return names[-2], names[-1]


def _plain_call(body: list[ast.stmt], inp: str, exp: str) -> tuple[str, float] | None:
    """``assertion(fn(*inp), exp, atol)`` → ``(fn, atol)``; None for any other loop body."""
    if len(body) != 1 or not isinstance(body[0], ast.Expr) or not isinstance(body[0].value, ast.Call):
        return None
    call = body[0].value
    if not (isinstance(call.func, ast.Name) and call.func.id == "assertion" and len(call.args) == 3):
        return None
    target, expected, atol = call.args
    if not (
        isinstance(target, ast.Call)
        and isinstance(target.func, ast.Name)
        and len(target.args) == 1
        and isinstance(target.args[0], ast.Starred)
        and isinstance(target.args[0].value, ast.Name)
        and target.args[0].value.id == inp
        and isinstance(expected, ast.Name)
        and expected.id == exp
    ):
        return None
    try:
        tol = safe_literal(atol)
    except ValueError:
        return None
    if not isinstance(tol, (int, float)) or isinstance(tol, bool):
        return None
    return target.func.id, float(tol)


def parse_mbppplus_program(program: str) -> dict[str, Any]:
    """Read an MBPP+ ``test`` program without running it.

    Returns ``inputs``, ``results``, ``setup`` (the program minus the data and the loop),
    ``body`` (the loop body's source), ``inp``/``exp`` (the loop's names), and ``call``:
    ``(entry_point, atol)`` when the body is the plain ``assertion(fn(*inp), exp, atol)``.
    """
    try:
        tree = ast.parse(program)
    except SyntaxError as err:
        raise SkipRow("MBPP+ test program does not parse", str(err)) from err
    data: dict[str, Any] = {}
    loop: ast.For | None = None
    setup: list[ast.stmt] = []
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in ("inputs", "results")
        ):
            try:
                data[node.targets[0].id] = safe_literal(node.value)
            except (ValueError, TypeError) as err:
                raise SkipRow("MBPP+ test data is not literal", f"{node.targets[0].id}: {err}") from err
        elif isinstance(node, ast.For) and loop is None and "inputs" in ast.unparse(node.iter):
            loop = node
        else:
            setup.append(node)
    if "inputs" not in data or "results" not in data or loop is None:
        raise SkipRow("unrecognised MBPP+ test program", "no inputs/results lists and loop over them")
    inputs, results = data["inputs"], data["results"]
    if not isinstance(inputs, list) or not isinstance(results, list) or len(inputs) != len(results):
        raise SkipRow("no usable tests", "inputs and results differ in length")
    inp, exp = _loop_names(loop.target)
    return {
        "inputs": inputs,
        "results": results,
        "setup": ast.unparse(ast.Module(body=setup, type_ignores=[])) if setup else "",
        "body": "\n".join(ast.unparse(stmt) for stmt in loop.body),
        "inp": inp,
        "exp": exp,
        "call": _plain_call(loop.body, inp, exp),
    }


def _call_tests(inputs: list, results: list, atol: float) -> list[Test] | None:
    """``call`` tests, or None when a value would not survive JSON (then assert tests are used)."""
    tests = []
    for args, expected in zip(inputs, results, strict=False):
        if not isinstance(args, (list, tuple)):
            return None
        try:
            tests.append(
                Test(
                    kind="call",
                    args=to_json_value(list(args)),
                    expected=to_json_value(expected),
                    atol=atol if atol > 0 else None,
                )
            )
        except TypeError:
            return None
    return tests


def _replay_tests(parsed: dict[str, Any]) -> list[Test]:
    """One ``assert`` test per input: bind the loop names, then run the original loop body."""
    tests = []
    for args, expected in zip(parsed["inputs"], parsed["results"], strict=False):
        code = f"{parsed['inp']} = {args!r}\n{parsed['exp']} = {expected!r}\n{parsed['body']}\n"
        tests.append(Test(kind="assert", code=code))
    return tests


def convert_mbppplus_row(row: dict[str, Any], index: int) -> Problem:
    """An ``evalplus/mbppplus`` row (task_id, prompt, code, test_list, test_imports, test, ...)."""
    task_id = require(row, "task_id", (int, str))
    number = str(task_id).rsplit("/", 1)[-1]
    prompt = require(row, "prompt")
    program = require(row, "test")
    code = _clean_code(optional(row, "code", "", str))
    base_tests = [t for t in optional(row, "test_list", [], list) if isinstance(t, str)]
    imports = [str(i) for i in optional(row, "test_imports", [], list)]
    parsed = parse_mbppplus_program(program)
    if not parsed["inputs"]:
        raise SkipRow("no usable tests", "inputs list is empty")
    setup = "\n".join(p for p in ("\n".join(imports), "from math import inf, nan", parsed["setup"]) if p)
    call = parsed["call"]
    tests = _call_tests(parsed["inputs"], parsed["results"], call[1]) if call else None
    entry_point = call[0] if call else guess_entry_point([parsed["body"], *base_tests], code)
    if tests is None:
        tests = _replay_tests(parsed)
    return Problem(
        id=f"mbppplus/{number}",
        source="mbppplus",
        question=_question(prompt, base_tests),
        kind="functional",
        tests=tests,
        entry_point=entry_point,
        solutions=[code] if code.strip() else [],
        test_setup=setup if any(t.kind == "assert" for t in tests) else "\n".join(imports),
        metadata={
            "task_id": task_id,
            "atol": call[1] if call else None,
            "test_form": "call" if tests[0].kind == "call" else "replayed_assertion",
            "base_tests": base_tests,
            "source_file": optional(row, "source_file", "", str),
        },
    )


def load_mbppplus(
    path: str | Path = MBPPPLUS_HUB_ID,
    *,
    split: str = "test",
    revision: str | None = None,
    limit: int | None = None,
) -> LoadResult[Problem]:
    """Load MBPP+ from a local file in the ``evalplus/mbppplus`` layout or from the hub."""
    location, rows = iter_rows(path, split=split, revision=revision)
    return collect("mbppplus", location, rows, convert_mbppplus_row, limit=limit)
