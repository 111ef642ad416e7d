"""Keep expected values of assert-kind tests out of the sandbox wherever the assertion allows.

An assert test (an MBPP ``assert f(x) == 3``, HumanEval's ``check(candidate)`` program) carries
its expectations inside code that must run next to the program. Before it is sent, the parent
rewrites each assertion whose expectation is a literal into a *probe*: the child evaluates only
the expression under test and reports its value, and the parent applies the comparison:

=========================================  ===============================================
assertion                                  child runs / parent checks
=========================================  ===============================================
``assert X == 3`` (any of == != < <= > >=   ``__cl_probe__(id, X)`` / ``value <op> 3``
is, is not, in, not in; literal either side)
``assert abs(X - 0.5) < 1e-6``              ``X`` / ``abs(value - 0.5) < 1e-6``
``assert math.isclose(X, 2.5, rel_tol=…)``  ``X`` / ``math.isclose(value, 2.5, …)``
``assert f(x)`` / ``assert not f(x)``       ``f(x)`` / truthiness of the plain value
``assert X == Y`` (no literal)              ``assert __cl_eq__(X, Y)``: compared in the child,
                                            plain built-in data only
anything else                               unchanged, runs in the child
=========================================  ===============================================

What this defends: an object whose ``__eq__`` (or ``__sub__``, ``__bool__``) lies never
passes a probe or ``__cl_eq__``; the program cannot read a probed expectation from memory,
frames or files, because it is not in the child. What it does not: assertions left unchanged
carry their expectations into the child, and a program that finds and writes to the result
channel can forge the final "ok" record of an assert test (probe values it cannot forge
usefully). Probes that sit directly in the body of the module or of ``check`` are *required*:
if such a test reports success without them, the parent scores NoResult.
"""

from __future__ import annotations

import ast
import functools
import marshal
import math
import operator
from dataclasses import dataclass, field
from typing import Any

PROBE_NAME = "__cl_probe__"
EQ_NAME = "__cl_eq__"

_OPS: dict[type, tuple[str, Any]] = {
    ast.Eq: ("==", operator.eq),
    ast.NotEq: ("!=", operator.ne),
    ast.Lt: ("<", operator.lt),
    ast.LtE: ("<=", operator.le),
    ast.Gt: (">", operator.gt),
    ast.GtE: (">=", operator.ge),
    ast.Is: ("is", operator.is_),
    ast.IsNot: ("is not", operator.is_not),
    ast.In: ("in", lambda a, b: a in b),
    ast.NotIn: ("not in", lambda a, b: a not in b),
}
_FLIPPED = {
    ast.Lt: ast.Gt,
    ast.Gt: ast.Lt,
    ast.LtE: ast.GtE,
    ast.GtE: ast.LtE,
    ast.Eq: ast.Eq,
    ast.NotEq: ast.NotEq,
}


class MalformedTest(ValueError):
    """An assert test that cannot even be parsed (a data problem, not the program's fault)."""


@dataclass
class Probe:
    """How the parent judges one probed value.

    ``kind``: ``compare`` (``op`` against ``expected``), ``abs_tol`` (``abs(v - expected) op tol``),
    ``isclose`` (``math.isclose(v, expected, **kwargs)``), ``truthy``/``falsy``.
    """

    id: int
    kind: str
    source: str
    expected: Any = None
    op: str = "=="
    tol: float = 0.0
    kwargs: dict[str, Any] = field(default_factory=dict)
    required: bool = False

    def expected_text(self) -> str:
        if self.kind == "compare":
            return repr(self.expected) if self.op == "==" else f"{self.op} {self.expected!r}"
        if self.kind == "abs_tol":
            return f"within {self.tol!r} of {self.expected!r}"
        if self.kind == "isclose":
            extra = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
            return f"isclose(·, {self.expected!r}{extra})"
        return "a true value" if self.kind == "truthy" else "a false value"


@dataclass
class RewrittenTest:
    """The code sent to the child, the probes kept by the parent, and whether to call ``check``.

    ``compiled`` is the rewritten test compiled here (``marshal`` bytes; the child runs the same
    interpreter, so it need not parse trusted test code again); ``display`` is the original
    source with probed assertions blanked, line for line, for the child's tracebacks.
    ``code`` is the rewritten source, for backends that need source (a remote server).
    """

    probes: dict[int, Probe]
    call_check: bool
    in_child: int
    """Assertions left to the child (their expectations do enter it)."""
    compiled: bytes = b""
    display: str = ""
    tree: ast.Module | None = field(default=None, repr=False)
    _code: str | None = field(default=None, repr=False)

    @property
    def code(self) -> str:
        if self._code is None:
            self._code = ast.unparse(self.tree) if self.tree is not None else ""
        return self._code

    @property
    def rule(self) -> str:
        return f"assert(probes={len(self.probes)}, in-child={self.in_child})"


def _literal(node: ast.AST) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _is_abs_call(node: ast.AST) -> ast.AST | None:
    """``abs(X)`` or ``math.fabs(X)`` → ``X``."""
    if not isinstance(node, ast.Call) or len(node.args) != 1 or node.keywords:
        return None
    func = node.func
    if (isinstance(func, ast.Name) and func.id == "abs") or (
        isinstance(func, ast.Attribute)
        and func.attr == "fabs"
        and isinstance(func.value, ast.Name)
        and func.value.id == "math"
    ):
        return node.args[0]
    return None


def _at(new: Any, old: ast.AST) -> Any:
    """Give a new node the location of the node it replaces (cheaper than fix_missing_locations)."""
    return ast.copy_location(new, old)


class _Rewriter(ast.NodeTransformer):
    def __init__(self, source: str) -> None:
        self.lines = [line.encode("utf-8") for line in source.splitlines(keepends=True)]
        self.blanked: list[tuple[int, int]] = []
        self.probes: dict[int, Probe] = {}
        self.in_child = 0
        self.required_nodes: set[int] = set()

    def _probe(self, node: ast.Assert, value: ast.AST, **spec: Any) -> ast.AST:
        probe_id = len(self.probes)
        source = self._segment(node) or f"assert at line {node.lineno}"
        self.probes[probe_id] = Probe(
            id=probe_id, source=source, required=id(node) in self.required_nodes, **spec
        )
        self.blanked.append((node.lineno, node.end_lineno or node.lineno))
        name, constant = _at(ast.Name(PROBE_NAME, ast.Load()), node), _at(ast.Constant(probe_id), node)
        return _at(ast.Expr(_at(ast.Call(name, [constant, value], []), node)), node)

    def _segment(self, node: ast.AST) -> str:
        """The source of ``node`` (column offsets are UTF-8 byte offsets), from lines split once."""
        first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        if not 0 <= first <= last < len(self.lines) or node.end_col_offset is None:
            return ""
        if first == last:
            raw = self.lines[first][node.col_offset : node.end_col_offset]
        else:
            raw = self.lines[first][node.col_offset :] + b"".join(self.lines[first + 1 : last])
            raw += self.lines[last][: node.end_col_offset]
        return raw.decode("utf-8", "replace")

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        test = node.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            left, op, right = test.left, test.ops[0], test.comparators[0]
            right_lit, right_value = _literal(right)
            left_lit, left_value = _literal(left)
            # abs(X - L) < T  →  probe X
            inner = _is_abs_call(left)
            if (
                right_lit
                and type(op) in (ast.Lt, ast.LtE)
                and inner is not None
                and isinstance(inner, ast.BinOp)
                and isinstance(inner.op, ast.Sub)
            ):
                sub_lit, sub_value = _literal(inner.right)
                if sub_lit and isinstance(sub_value, (int, float)) and isinstance(right_value, (int, float)):
                    return self._probe(
                        node,
                        inner.left,
                        kind="abs_tol",
                        expected=sub_value,
                        tol=right_value,
                        op=_OPS[type(op)][0],
                    )
            if right_lit and not left_lit and type(op) in _OPS:
                return self._probe(node, left, kind="compare", expected=right_value, op=_OPS[type(op)][0])
            if left_lit and not right_lit and type(op) in _FLIPPED:
                flipped = _FLIPPED[type(op)]
                return self._probe(node, right, kind="compare", expected=left_value, op=_OPS[flipped][0])
            if isinstance(op, ast.Eq) and not left_lit and not right_lit:
                self.in_child += 1
                checked = _at(ast.Call(_at(ast.Name(EQ_NAME, ast.Load()), node), [left, right], []), node)
                return _at(ast.Assert(checked, node.msg), node)
        if isinstance(test, ast.Call):
            close = self._isclose(node, test)
            if close is not None:
                return close
            return self._probe(node, test, kind="truthy")
        if (
            isinstance(test, ast.UnaryOp)
            and isinstance(test.op, ast.Not)
            and isinstance(test.operand, ast.Call)
        ):
            return self._probe(node, test.operand, kind="falsy")
        self.in_child += 1
        return node

    def _isclose(self, node: ast.Assert, call: ast.Call) -> ast.AST | None:
        func = call.func
        if not (
            isinstance(func, ast.Attribute)
            and func.attr == "isclose"
            and isinstance(func.value, ast.Name)
            and func.value.id == "math"
            and len(call.args) == 2
        ):
            return None
        kwargs = {}
        for keyword in call.keywords:
            ok, value = _literal(keyword.value)
            if not ok or keyword.arg not in ("rel_tol", "abs_tol"):
                return None
            kwargs[keyword.arg] = value
        first_lit, first = _literal(call.args[0])
        second_lit, second = _literal(call.args[1])
        if second_lit and not first_lit:
            return self._probe(node, call.args[0], kind="isclose", expected=second, kwargs=kwargs)
        if first_lit and not second_lit:
            return self._probe(node, call.args[1], kind="isclose", expected=first, kwargs=kwargs)
        return None


def _mark_required(tree: ast.Module, rewriter: _Rewriter, check_called: bool) -> None:
    """Assertions that always run when the test completes: module level, or directly in ``check``."""
    for stmt in tree.body:
        if isinstance(stmt, ast.Assert):
            rewriter.required_nodes.add(id(stmt))
        if check_called and isinstance(stmt, ast.FunctionDef) and stmt.name == "check":
            for inner in stmt.body:
                if isinstance(inner, ast.Assert):
                    rewriter.required_nodes.add(id(inner))


def _calls_check(tree: ast.Module) -> bool:
    """Does module-level code call ``check`` itself (then the harness must not call it again)?"""
    for stmt in tree.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "check":
                return True
    return False


def rewrite_assert_test(code: str, *, probes: bool = True) -> RewrittenTest:
    """Rewrite an assert test for the child (see the module docstring); ``probes=False`` keeps it.

    Results are cached by source (parsing costs ~1 ms and RL runs the same tests many times);
    treat the returned object as read-only.
    """
    return _rewrite(code, probes)


@functools.lru_cache(maxsize=4096)
def _rewrite(code: str, probes: bool) -> RewrittenTest:
    try:
        tree = ast.parse(code, filename="test.py")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as err:
        raise MalformedTest(f"assert test does not parse: {err}") from err
    defines_check = any(isinstance(s, ast.FunctionDef) and s.name == "check" for s in tree.body)
    call_check = defines_check and not _calls_check(tree)
    if not probes:
        asserts = sum(isinstance(n, ast.Assert) for n in ast.walk(tree))
        return RewrittenTest({}, call_check, asserts, _compile(tree), code, _code=code)
    rewriter = _Rewriter(code)
    _mark_required(tree, rewriter, call_check or _calls_check(tree))
    new_tree = rewriter.visit(tree)  # every new node got its assertion's location (see _at)
    display = _blank(code, rewriter.blanked)
    return RewrittenTest(
        rewriter.probes, call_check, rewriter.in_child, _compile(new_tree), display, new_tree
    )


def _compile(tree: ast.Module) -> bytes:
    try:
        return marshal.dumps(compile(tree, "test.py", "exec", dont_inherit=True))
    except (SyntaxError, ValueError) as err:  # e.g. `return` outside a function: parses, does not compile
        raise MalformedTest(f"assert test does not compile: {err}") from err


def _blank(code: str, spans: list[tuple[int, int]]) -> str:
    """``code`` with the given line spans replaced by a comment (same number of lines)."""
    lines = code.splitlines()
    for first, last in spans:
        for number in range(first, last + 1):
            if 0 < number <= len(lines):
                indent = lines[number - 1][: len(lines[number - 1]) - len(lines[number - 1].lstrip())]
                lines[number - 1] = (
                    f"{indent}# (assertion checked outside the sandbox)" if number == first else ""
                )
    return "\n".join(lines) + "\n"


def judge_probe(probe: Probe, value: Any) -> tuple[bool, str]:
    """Apply a probe's comparison to a decoded value in the parent: ``(ok, detail)``.

    Only built-in values reach here (see :mod:`criticlab.sandbox.codec`); an opaque value raises
    inside the comparison and fails it.
    """
    try:
        if probe.kind == "compare":
            ok = bool(_OPS_BY_TEXT[probe.op](value, probe.expected))
        elif probe.kind == "abs_tol":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False, f"expected a number, got {type(value).__name__}"
            diff = abs(value - probe.expected)
            ok = diff < probe.tol if probe.op == "<" else diff <= probe.tol
        elif probe.kind == "isclose":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False, f"expected a number, got {type(value).__name__}"
            ok = math.isclose(value, probe.expected, **probe.kwargs)
        elif probe.kind == "truthy":
            ok = bool(value) if _plain(value) else False
        elif probe.kind == "falsy":
            ok = (not value) if _plain(value) else False
        else:
            return False, f"unknown probe kind {probe.kind!r}"
    except Exception as err:
        return False, f"comparison failed: {type(err).__name__}: {err}"
    return ok, ""


def _plain(value: Any) -> bool:
    from criticlab.sandbox.codec import Opaque

    return not isinstance(value, Opaque)


_OPS_BY_TEXT = {text: fn for text, fn in _OPS.values()}
