"""Code similarity between a solution and its revision.

Two measures of original vs revised code. CTRL's (App. C.4, Figure 7): the ``difflib`` ratio over
the characters of ``ast.unparse`` after canonical renaming of identifiers
(:func:`paper_similarity`). The workbook's: AST normalization (canonical identifier names, no
docstrings, comments or annotations), difflib ratio over tokens (:func:`code_similarity`). Both
fall back to comment-stripped text when code does not parse, and say so.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import io
import re
import tokenize
from collections.abc import Iterable, Mapping

import pandas as pd

from criticlab.rollout.trajectory import Trajectory

_BUILTINS = frozenset(dir(builtins))


class _Bindings(ast.NodeVisitor):
    """Names the code binds itself (assignments, defs, arguments), in source order; imports are API names."""

    def __init__(self) -> None:
        self.names: dict[str, None] = {}
        self.imported: set[str] = set()

    def _bind(self, name: str | None) -> None:
        if name and name not in self.names:
            self.names[name] = None

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._bind(node.id)

    def visit_arg(self, node: ast.arg) -> None:
        self._bind(node.arg)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._bind(node.name)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._bind(node.name)
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        self._bind(node.name)
        self.generic_visit(node)

    def visit_alias(self, node: ast.alias) -> None:
        self.imported.add((node.asname or node.name).split(".")[0])


class _Appearance(ast.NodeVisitor):
    """Names in the order they first appear in the source (uses and bindings alike)."""

    def __init__(self) -> None:
        self.names: dict[str, None] = {}

    def _see(self, name: str | None) -> None:
        if name and name not in self.names:
            self.names[name] = None

    def visit_Name(self, node: ast.Name) -> None:
        self._see(node.id)

    def visit_arg(self, node: ast.arg) -> None:
        self._see(node.arg)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._see(node.name)
        for field, value in ast.iter_fields(node):
            if field == "decorator_list":
                continue
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    self.visit(child)

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_ClassDef = visit_FunctionDef

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        self._see(node.name)
        for stmt in node.body:
            self.visit(stmt)


class _Renamer(ast.NodeTransformer):
    """Renames bound names to v0, v1, ...; with ``strip``, also drops docstrings, bare strings and
    signature annotations (the workbook's normalization; CTRL's App. C.4 renames only)."""

    def __init__(self, mapping: Mapping[str, str], strip: bool = True) -> None:
        self.mapping = mapping
        self.strip = strip

    def _new(self, name: str | None) -> str | None:
        return self.mapping.get(name, name) if name else name

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self._new(node.id) or node.id
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self._new(node.arg) or node.arg
        if self.strip:
            node.annotation = None
        else:
            self.generic_visit(node)
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.keyword:
        node.arg = self._new(node.arg)
        self.generic_visit(node)
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.ExceptHandler:
        node.name = self._new(node.name)
        self.generic_visit(node)
        return node

    def visit_Global(self, node: ast.Global | ast.Nonlocal) -> ast.Global | ast.Nonlocal:
        node.names = [self._new(n) or n for n in node.names]
        return node

    visit_Nonlocal = visit_Global

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            node.name = self._new(node.name) or node.name
        if self.strip and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None
        super().generic_visit(node)
        body = getattr(node, "body", None)
        if self.strip and isinstance(body, list) and body and all(isinstance(s, ast.stmt) for s in body):
            kept = [s for s in body if not _is_bare_string(s)]
            node.body = kept or [ast.Pass()]
        return node


def _is_bare_string(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def normalize_code(code: str) -> tuple[str, bool]:
    """``(normalized text, parsed)``: canonical names, no docstrings/comments/annotations, when it parses.

    Only names the code binds itself are renamed (in order of first binding), so calls into
    builtins, imported modules and attributes keep their names: ``len(xs)`` and ``len(ys)``
    become equal, ``len`` and ``sum`` do not. Code that does not parse comes back with comments
    and blank lines removed and ``parsed`` False.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return strip_comments(code), False
    bindings = _Bindings()
    bindings.visit(tree)
    names = [n for n in bindings.names if n not in bindings.imported and n not in _BUILTINS]
    tree = _Renamer({name: f"v{i}" for i, name in enumerate(names)}).visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree)), True


def canonical_unparse(code: str) -> tuple[str, bool]:
    """``(ast.unparse text, parsed)`` after canonical renaming, as CTRL's App. C.4 defines it.

    The variables, arguments and functions (and classes, exception names) the code binds are
    renamed v0, v1, ... in order of first appearance in the source; builtins, imported names and
    attributes keep theirs. Nothing else changes: docstrings and annotations stay, and comments go
    only because ``ast.unparse`` drops them. Code that does not parse comes back comment-stripped
    (:func:`strip_comments`) with ``parsed`` False.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return strip_comments(code), False
    bindings = _Bindings()
    bindings.visit(tree)
    bound = {n for n in bindings.names if n not in bindings.imported and n not in _BUILTINS}
    seen = _Appearance()
    seen.visit(tree)
    order = [n for n in seen.names if n in bound] + [
        n for n in bindings.names if n in bound and n not in seen.names
    ]
    tree = _Renamer({name: f"v{i}" for i, name in enumerate(order)}, strip=False).visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree)), True


def paper_similarity(a: str, b: str) -> tuple[float, bool]:
    """``(similarity in [0, 1], both parsed)``: CTRL's Figure 7 measure (App. C.4).

    ``difflib.SequenceMatcher`` ratio over the characters of :func:`canonical_unparse` of each
    side. When either side does not parse, both are compared as comment-stripped text (characters)
    and the flag is False, so such pairs can be counted or left out.
    """
    text_a, ok_a = canonical_unparse(a)
    text_b, ok_b = canonical_unparse(b)
    parsed = ok_a and ok_b
    if not parsed:  # like with like: both sides as text
        text_a, text_b = strip_comments(a), strip_comments(b)
    if not text_a and not text_b:
        return 1.0, parsed
    return difflib.SequenceMatcher(None, text_a, text_b, autojunk=False).ratio(), parsed


def strip_comments(code: str) -> str:
    """The text fallback: drop ``#`` comments and blank lines (a ``#`` inside a string may be cut too)."""
    kept = [re.sub(r"(^|\s)#.*$", "", line).rstrip() for line in code.splitlines()]
    return "\n".join(line for line in kept if line.strip())


def code_tokens(text: str) -> list[str]:
    """Python tokens of ``text`` (layout tokens dropped); a regex split where tokenizing fails."""
    try:
        skip = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.ENCODING, tokenize.ENDMARKER}
        return [t.string for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in skip]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return re.findall(r"\w+|[^\w\s]", text)


def code_similarity(a: str, b: str) -> tuple[float, bool]:
    """``(similarity in [0, 1], both parsed)``: difflib ratio of the normalized token sequences.

    When either side does not parse, both are compared as comment-stripped text tokens, so the
    pair is still scored and the flag says how.
    """
    norm_a, ok_a = normalize_code(a)
    norm_b, ok_b = normalize_code(b)
    parsed = ok_a and ok_b
    if not parsed:  # compare like with like: both sides as text
        norm_a, norm_b = strip_comments(a), strip_comments(b)
    tokens_a, tokens_b = code_tokens(norm_a), code_tokens(norm_b)
    if not tokens_a and not tokens_b:
        return 1.0, parsed
    return difflib.SequenceMatcher(None, tokens_a, tokens_b, autojunk=False).ratio(), parsed


def revision_similarity(trajectories: Iterable[Trajectory]) -> pd.DataFrame:
    """Similarity of each solution to its revision (round k vs k+1), per method (the critic).

    Pairs where either round has no extracted code are skipped. Columns: method, problem_id,
    sample, round, similarity (the workbook's token ratio, :func:`code_similarity`), similarity
    (C.4) (CTRL's character ratio, :func:`paper_similarity`), parsed, changed_correctness.
    """
    rows = []
    for t in trajectories:
        for k in range(len(t.rounds) - 1):
            before, after = t.rounds[k], t.rounds[k + 1]
            if before.code is None or after.code is None:
                continue
            ratio, parsed = code_similarity(before.code, after.code)
            paper_ratio, _ = paper_similarity(before.code, after.code)
            rows.append(
                {
                    "method": t.method,
                    "problem_id": t.problem_id,
                    "sample": t.sample,
                    "round": k,
                    "similarity": ratio,
                    "similarity (C.4)": paper_ratio,
                    "parsed": parsed,
                    "changed_correctness": before.correct != after.correct,
                }
            )
    columns = [
        "method",
        "problem_id",
        "sample",
        "round",
        "similarity",
        "similarity (C.4)",
        "parsed",
        "changed_correctness",
    ]
    return pd.DataFrame(rows, columns=columns)
