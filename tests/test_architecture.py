"""The shape of the code, checked: each part has one home and imports flow one way.

A newcomer reading sp/ should find the SAML protocol in sp/saml (no web framework, no database),
services that decide in their own packages, and views that only adapt HTTP. These tests read the
source with `ast`, so an import hidden inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sp"
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """Every sp module `name` imports, anywhere in its body (a `from pkg import mod` counts as pkg.mod)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {module for module in found if module == "sp" or module.startswith("sp.")}


GRAPH = {name: _imports(name) - {name} for name in MODULES}


def _third_party(name: str) -> set[str]:
    tree = ast.parse(MODULES[name].read_text())
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_module_imports_itself_back_through_others():
    cycles = []
    state: dict[str, int] = defaultdict(int)  # 0 new, 1 on the stack, 2 done
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for target in sorted(GRAPH.get(name, ())):
            if target not in GRAPH:
                continue
            if state[target] == 1:
                cycles.append(stack[stack.index(target) :] + [target])
            elif state[target] == 0:
                visit(target)
        stack.pop()
        state[name] = 2

    for name in GRAPH:
        if state[name] == 0:
            visit(name)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_reads_in_one_sitting(name):
    lines = MODULES[name].read_text().count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by reason to change"


SAML_MAY_IMPORT = {"sp", "sp.errors", "sp.clock"}
WEB_AND_DATABASE = {
    "flask",
    "werkzeug",
    "sqlalchemy",
    "flask_sqlalchemy",
    "flask_login",
    "flask_wtf",
    "flask_migrate",
    "flask_limiter",
    "itsdangerous",
    "jinja2",
}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("sp.saml")))
def test_the_protocol_core_knows_nothing_of_the_web_or_the_database(name):
    outside = {m for m in GRAPH[name] if not m.startswith("sp.saml")} - SAML_MAY_IMPORT
    assert not outside, f"{name} imports {sorted(outside)}: sp.saml may import only sp.errors and sp.clock"
    assert not _third_party(name) & WEB_AND_DATABASE, f"{name} imports {sorted(_third_party(name) & WEB_AND_DATABASE)}"


def test_python3_saml_and_xmlsec_live_in_the_protocol_core_only():
    users = sorted(n for n in MODULES if not n.startswith("sp.saml") and _third_party(n) & {"onelogin", "xmlsec"})
    assert not users, f"{users} call python3-saml or xmlsec outside sp/saml"


LAYERS = ["sp.web", "sp.cli", "sp.signin", "sp.idp", "sp.tenancy", "sp.operators", "sp.records", "sp.saml"]
# What each service package may use besides the bottom (models, errors, clock, config, extensions, database).
MAY_USE = {
    "sp.signin": {"sp.signin", "sp.tenancy", "sp.records", "sp.saml"},
    "sp.idp": {"sp.idp", "sp.records", "sp.saml"},
    "sp.tenancy": {"sp.tenancy", "sp.records"},
    "sp.operators": {"sp.operators", "sp.records"},
    "sp.records": {"sp.records"},
}
BOTTOM = {"sp", "sp.models", "sp.errors", "sp.clock", "sp.config", "sp.extensions", "sp.database"}


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


@pytest.mark.parametrize("package", sorted(MAY_USE))
def test_services_never_reach_up_into_the_web_or_the_cli(package):
    wrong = {
        (name, target)
        for name in MODULES
        if _package(name) == package
        for target in GRAPH[name]
        if target not in BOTTOM and _package(target) not in MAY_USE[package]
    }
    assert not wrong, f"{package} imports what it must not: {sorted(wrong)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith(("sp.web", "sp.cli"))))
def test_views_and_commands_write_no_query(name):
    """Views and commands adapt; the services they call own every query and commit."""
    source = MODULES[name].read_text()
    assert "sqlalchemy" not in _third_party(name), f"{name} imports SQLAlchemy"
    for call in (
        "db.session.execute",
        "db.session.scalar",
        "db.session.get",
        "db.session.commit",
        "db.session.add",
        "db.session.query",
        "db.session.delete",
    ):
        assert call not in source, f"{name} calls {call}: move it into a service"


def test_bottom_modules_import_no_service():
    for name in BOTTOM - {"sp"}:
        above = {m for m in GRAPH[name] if m not in BOTTOM}
        assert not above, f"{name} imports {sorted(above)}"
