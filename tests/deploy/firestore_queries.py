"""Find the Firestore queries in Python source without running it: collection, fields, order.

The scan follows how `shared/storage` builds queries: a chain on a collection reference
(`self._collection.where(...).order_by(...)`), a collection from a method
(`self._runs(id).where(...)`), a collection named by a variable (kept as `{variable}`), and a
query built step by step in local variables, also under
an `if` (`query = query.where(...)` may or may not have happened, so both shapes count). A query
counts once something runs it (`stream`, `get`, `count`, `sum`, `avg`) or a function returns it.
What the scan cannot follow in a module that uses Firestore is reported as a problem rather
than skipped, so a new query style fails loudly instead of escaping the index check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Kind = Literal["equality", "array", "range", "order"]
_EQUALITY_OPS = {"==", "in"}
_ARRAY_OPS = {"array_contains", "array_contains_any", "array-contains", "array-contains-any"}
_RANGE_OPS = {"<", "<=", ">", ">=", "!=", "not-in", "not_in"}
_RUNS_QUERY = {"stream", "get", "count", "sum", "avg", "on_snapshot"}
_KEEPS_QUERY = {"limit", "limit_to_last", "offset", "start_after", "start_at", "end_before", "end_at", "select"}


@dataclass(frozen=True)
class Constraint:
    kind: Kind
    field: str
    direction: str = "ASCENDING"


@dataclass(frozen=True)
class FoundQuery:
    location: str
    collection: str
    query_scope: str
    constraints: tuple[Constraint, ...]

    @property
    def fields(self) -> set[str]:
        return {c.field for c in self.constraints}

    def index_shape(self) -> tuple[frozenset[tuple[str, str]], tuple[tuple[str, str], ...]]:
        """(unordered prefix, ordered rest) of the composite index this query needs.

        Equality (and array-contains) filters form the prefix in any order; then the `order_by`
        fields in order, then range-filtered fields not already ordered (Firestore's implicit order).
        """
        prefix = frozenset(
            (c.field, "CONTAINS" if c.kind == "array" else "ASCENDING")
            for c in self.constraints
            if c.kind in ("equality", "array")
        )
        ordered = [(c.field, c.direction) for c in self.constraints if c.kind == "order"]
        for c in self.constraints:
            if c.kind == "range" and c.field not in {name for name, _ in ordered}:
                ordered.append((c.field, "ASCENDING"))
        return prefix, tuple(ordered)


@dataclass(frozen=True)
class _Query:
    collection: str
    query_scope: str
    constraints: tuple[Constraint, ...] = ()


_NEUTRAL = "neutral"  # a client, a snapshot, anything that is not (yet) a query
_DOCUMENT = "document"
_State = _Query | str


@dataclass
class ScanResult:
    queries: set[FoundQuery] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def scan_tree(root: Path, package_root: Path) -> ScanResult:
    """Every query in the `.py` files under `root` (module constants resolved from `package_root`)."""
    result = ScanResult()
    for path in sorted(root.rglob("*.py")):
        _ModuleScan(path, package_root, result).run()
    return result


def scan_source(source: str, name: str = "snippet.py") -> ScanResult:
    result = ScanResult()
    _ModuleScan(Path(name), None, result, source=source).run()
    return result


class _ModuleScan:
    def __init__(self, path: Path, package_root: Path | None, result: ScanResult, source: str | None = None) -> None:
        self.path = path
        self.package_root = package_root
        self.result = result
        self.source = path.read_text() if source is None else source
        self.tree = ast.parse(self.source)
        self.uses_firestore = "firestore" in self.source
        self.constants = _string_constants(self.tree, package_root)
        self._parents = {child: node for node in ast.walk(self.tree) for child in ast.iter_child_nodes(node)}

    def run(self) -> None:
        for node in self.tree.body:
            if isinstance(node, ast.ClassDef):
                self._scan_class(node)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                _FunctionScan(self, node, attributes={}, methods={}).run()

    def _scan_class(self, cls: ast.ClassDef) -> None:
        functions = [n for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        attributes: dict[str, ast.expr] = {}
        for function in functions:
            if function.name == "__init__":
                for stmt in ast.walk(function):
                    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                        target = stmt.targets[0]
                        if isinstance(target, ast.Attribute) and _is_name(target.value, "self"):
                            attributes[target.attr] = stmt.value
        methods = {f.name: r for f in functions if (r := _returned_expression(f)) is not None}
        for function in functions:
            _FunctionScan(self, function, attributes, methods).run()

    def location(self, node: ast.AST) -> str:
        return f"{self.path.name}:{getattr(node, 'lineno', '?')}"

    def resolve_string(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return self.constants.get(node.id)
        return None

    def is_chain_top(self, node: ast.AST) -> bool:
        parent = self._parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.value is node:
            return False
        return not (isinstance(parent, ast.Call) and parent.func is node)


class _FunctionScan:
    def __init__(
        self,
        module: _ModuleScan,
        function: ast.FunctionDef | ast.AsyncFunctionDef,
        attributes: dict[str, ast.expr],
        methods: dict[str, ast.expr],
    ) -> None:
        self.module = module
        self.function = function
        self.attributes = attributes
        self.methods = methods

    def run(self) -> None:
        self._block(self.function.body, {}, conditional=False)

    def _block(self, statements: list[ast.stmt], env: dict[str, set[_State]], *, conditional: bool) -> None:
        for stmt in statements:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            for expression in _header_expressions(stmt):
                self._scan_expressions(expression, env)
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                states = self.evaluate(stmt.value, env, record=False)
                if any(isinstance(s, _Query) or s == _DOCUMENT for s in states):
                    name = stmt.targets[0].id
                    env[name] = states | (env.get(name, set()) if conditional else set())
            if isinstance(stmt, ast.Return) and stmt.value is not None:
                for state in self.evaluate(stmt.value, env, record=False):
                    if isinstance(state, _Query):
                        self._record(state, stmt)  # run by the caller
            for body in _nested_blocks(stmt):
                self._block(body, env, conditional=True)

    def _scan_expressions(self, expression: ast.AST, env: dict[str, set[_State]]) -> None:
        for node in ast.walk(expression):
            if isinstance(node, ast.Call | ast.Attribute) and self.module.is_chain_top(node):
                self.evaluate(node, env, record=True)  # type: ignore[arg-type]

    def evaluate(
        self, expression: ast.expr, env: dict[str, set[_State]], *, record: bool, depth: int = 0
    ) -> set[_State]:
        chain = _chain(expression)
        if chain is None or depth > 5:
            return {_NEUTRAL}
        base, links = chain
        states: set[_State]
        if base == "self" and links:
            name, call = links[0]
            if call is None and name in self.attributes:
                states = self.evaluate(self.attributes[name], {}, record=False, depth=depth + 1)
            elif call is not None and name in self.methods:
                states = self.evaluate(self.methods[name], {}, record=False, depth=depth + 1)
            else:
                states = {_NEUTRAL}
            links = links[1:]
        else:
            states = set(env.get(base, {_NEUTRAL}))
        return {self._apply(state, links, expression, record) for state in states}

    def _apply(self, state: _State, links: list[tuple[str, ast.Call | None]], node: ast.expr, record: bool) -> _State:
        for name, call in links:
            if name in ("collection", "collection_group") and call is not None and call.args:
                collection = self.module.resolve_string(call.args[0])
                if collection is None and isinstance(call.args[0], ast.Name):
                    # A store written once for several collections (`VersionedDocuments`) names it
                    # by a variable: its queries are kept under `{variable}`, where no declared
                    # index or field override is, so one that needs either still fails the checks.
                    collection = f"{{{call.args[0].id}}}"
                if collection is None:
                    self._problem(node, "cannot tell which collection this reads (use a literal or a module constant)")
                    return _NEUTRAL
                scope = "COLLECTION_GROUP" if name == "collection_group" else "COLLECTION"
                state = _Query(collection, scope)
            elif name == "document":
                state = _DOCUMENT
            elif name in ("where", "order_by") and call is not None:
                if not isinstance(state, _Query):
                    if self.module.uses_firestore and state != _DOCUMENT:
                        self._problem(node, f"a .{name}() on something the scan cannot trace to a collection")
                    return _NEUTRAL
                added = self._constraints(name, call, node)
                state = _Query(state.collection, state.query_scope, state.constraints + added)
            elif name in _RUNS_QUERY:
                if isinstance(state, _Query) and record:
                    self._record(state, node)
                return _NEUTRAL
            elif name in _KEEPS_QUERY:
                continue
            elif isinstance(state, _Query):
                return _NEUTRAL
        return state

    def _constraints(self, method: str, call: ast.Call, node: ast.expr) -> tuple[Constraint, ...]:
        if method == "order_by":
            path = self.module.resolve_string(call.args[0]) if call.args else None
            if path is None:
                self._problem(node, "an order_by whose field is not a literal")
                return ()
            direction_node = next((k.value for k in call.keywords if k.arg == "direction"), None)
            if direction_node is None and len(call.args) > 1:
                direction_node = call.args[1]
            descending = direction_node is not None and "DESCENDING" in ast.unparse(direction_node)
            return (Constraint("order", path, "DESCENDING" if descending else "ASCENDING"),)
        filters = [k.value for k in call.keywords if k.arg == "filter"]
        if not filters and len(call.args) >= 2:
            return self._filter(call.args[0], call.args[1], node)
        found: list[Constraint] = []
        for filter_node in filters:
            for inner in ast.walk(filter_node):
                if isinstance(inner, ast.Call) and _called_name(inner).endswith("FieldFilter") and len(inner.args) >= 2:
                    found += self._filter(inner.args[0], inner.args[1], node)
        if not found:
            self._problem(node, "a .where() whose field filter the scan cannot read")
        return tuple(found)

    def _filter(self, path_node: ast.expr, op_node: ast.expr, node: ast.expr) -> tuple[Constraint, ...]:
        path, op = self.module.resolve_string(path_node), self.module.resolve_string(op_node)
        if path is None or op is None:
            self._problem(node, "a filter whose field or operator is not a literal")
            return ()
        kind: Kind = "equality" if op in _EQUALITY_OPS else "array" if op in _ARRAY_OPS else "range"
        if op not in _EQUALITY_OPS | _ARRAY_OPS | _RANGE_OPS:
            self._problem(node, f"an unknown filter operator {op!r}")
        return (Constraint(kind, path),)

    def _record(self, state: _Query, node: ast.AST) -> None:
        self.module.result.queries.add(
            FoundQuery(self.module.location(node), state.collection, state.query_scope, state.constraints)
        )

    def _problem(self, node: ast.AST, message: str) -> None:
        self.module.result.problems.append(f"{self.module.location(node)} ({self.function.name}): {message}")


def _chain(node: ast.expr) -> tuple[str, list[tuple[str, ast.Call | None]]] | None:
    """`a.b(x).c` as ("a", [("b", call), ("c", None)]); None when it does not start at a name."""
    links: list[tuple[str, ast.Call | None]] = []
    current: ast.expr = node
    while True:
        if isinstance(current, ast.Call) and isinstance(current.func, ast.Attribute):
            links.append((current.func.attr, current))
            current = current.func.value
        elif isinstance(current, ast.Attribute):
            links.append((current.attr, None))
            current = current.value
        elif isinstance(current, ast.Name):
            links.reverse()
            return current.id, links
        else:
            return None


def _header_expressions(stmt: ast.stmt) -> Iterator[ast.AST]:
    """The parts of a statement evaluated here (a compound statement's body is scanned separately)."""
    if isinstance(stmt, ast.If | ast.While):
        yield stmt.test
    elif isinstance(stmt, ast.For | ast.AsyncFor):
        yield stmt.iter
    elif isinstance(stmt, ast.With | ast.AsyncWith):
        yield from (item.context_expr for item in stmt.items)
    elif isinstance(stmt, ast.Try):
        return
    else:
        yield stmt


def _nested_blocks(stmt: ast.stmt) -> Iterable[list[ast.stmt]]:
    if isinstance(stmt, ast.If | ast.While | ast.For | ast.AsyncFor):
        yield stmt.body
        yield stmt.orelse
    elif isinstance(stmt, ast.With | ast.AsyncWith):
        yield stmt.body
    elif isinstance(stmt, ast.Try):
        yield stmt.body
        for handler in stmt.handlers:
            yield handler.body
        yield stmt.orelse
        yield stmt.finalbody


def _returned_expression(function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.expr | None:
    returns = [n for n in ast.walk(function) if isinstance(n, ast.Return) and n.value is not None]
    return returns[-1].value if returns else None


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _is_name(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _string_constants(tree: ast.Module, package_root: Path | None) -> dict[str, str]:
    """Module-level `NAME = "text"`, plus `from shared.x import NAME as ALIAS` resolved in its module."""
    constants: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
        elif isinstance(node, ast.ImportFrom) and node.module and package_root is not None:
            imported = package_root / (node.module.replace(".", "/") + ".py")
            if not imported.is_file():
                continue
            theirs = _string_constants(ast.parse(imported.read_text()), None)
            for alias in node.names:
                if alias.name in theirs:
                    constants[alias.asname or alias.name] = theirs[alias.name]
    return constants
