"""The layout's rules, read off the code (docs/architecture.md):

- the platform imports no domain, and no domain's table name appears in its SQL;
- a part imports only the parts the dependency rule lets it (DESIGN.md's arrows): no
  domain imports the app, the channels or ``loadtest/``, and the product never imports
  ``loadtest/`` (only the CLI registers its commands);
- nothing imports a private name (a module or a name starting with ``_``) of another
  part, and another domain is used through its front door only: ``from imias.booking
  import X`` with ``X`` in ``imias.booking.__all__``.
"""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = (
    "imias",
    "scheduler_core",
    "loadtest",
    "ehr",
    "prescriptions",
    "integrations",
    "insights",
)

#: The composition root: it assembles everything.
COMPOSITION = {"imias.app", "imias.cli", "imias.asgi", "imias.domains"}
#: Parts whose other users go through the front door (``__init__``'s ``__all__``).
DOMAINS = {
    "registry",
    "identity",
    "booking",
    "citygen",
    "ehr",
    "prescriptions",
    "integrations",
    "insights",
}
#: Who may import whom (besides itself and ``imias.__version__``).
ALLOWED: dict[str, set[str]] = {
    "root": {
        "platform",
        "registry",
        "identity",
        "booking",
        "citygen",
        "channels",
        "scheduler_core",
        "ehr",
        "prescriptions",
        "integrations",
        "insights",
        "loadtest",
    },
    # The pages use every domain's public names (DESIGN.md), the integrations' too (the
    # registrar's active visits).
    "channels": {
        "platform",
        "registry",
        "identity",
        "booking",
        "ehr",
        "prescriptions",
        "integrations",
        "insights",
    },  # fmt: skip
    # The dashboard reads the booking, the records and the registry (docs/dashboard.md).
    "insights": {"platform", "registry", "identity", "booking", "ehr"},
    "integrations": {"platform", "registry", "identity", "booking", "ehr", "prescriptions"},
    "prescriptions": {"platform", "registry", "identity", "ehr"},
    "ehr": {"platform", "registry", "identity"},
    "booking": {"platform", "registry", "identity", "scheduler_core"},
    "identity": {"platform", "registry"},
    "registry": {"platform"},
    "citygen": {"platform", "registry", "identity", "booking", "ehr", "prescriptions"},
    "platform": set(),
    "scheduler_core": set(),
    "loadtest": {
        "platform",
        "registry",
        "identity",
        "booking",
        "citygen",
        "ehr",
        "prescriptions",
        "channels",
        "scheduler_core",
        "integrations",
        "insights",
    },
}


def part(module: str) -> str | None:
    """The part of the layout a module belongs to (None: not ours)."""
    if module in COMPOSITION:
        return "root"
    head, _, rest = module.partition(".")
    if head == "imias":
        if not rest:
            return "imias"  # the package itself: its version
        return rest.split(".")[0]
    if head in ("scheduler_core", "loadtest", "ehr", "prescriptions", "integrations", "insights"):
        return head
    return None


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module
    names: tuple[str, ...]  # the names taken from it (empty: the module itself)
    line: int


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, source: str, is_package: bool) -> list[Import]:
    """Every import of a module, at any depth (functions and TYPE_CHECKING blocks too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(module, alias.name, (), node.lineno))
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, target] if target else base)
            found.append(Import(module, target, tuple(a.name for a in node.names), node.lineno))
    return found


def _is_module(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def violations(imports: list[Import]) -> list[str]:
    """What breaks the rules among ``imports``."""
    found = []
    for imp in imports:
        source, target = part(imp.source), part(imp.target)
        if target is None or source is None or target == "imias" or source == target:
            continue
        where = f"{imp.source}:{imp.line} imports {imp.target}"
        if target not in ALLOWED[source]:
            found.append(f"{where}: {source} may not import {target}")
            continue
        private = [p for p in imp.target.split(".") if p.startswith("_") and p != "__init__"]
        private += [n for n in imp.names if n.startswith("_")]
        if private:
            found.append(f"{where}: a private name of {target} ({', '.join(private)})")
            continue
        if source == "root" or target not in DOMAINS:
            continue
        front = "imias." + target if imp.target.startswith("imias.") else target
        if imp.target != front:
            found.append(f"{where}: {target} is used through its front door, {front}")
            continue
        public = set(getattr(importlib.import_module(front), "__all__", ()))
        outside = [n for n in imp.names if n not in public and not _is_module(f"{front}.{n}")]
        outside += [n for n in imp.names if n not in public and _is_module(f"{front}.{n}")]
        if not imp.names or outside:
            found.append(f"{where}: not among {front}.__all__: {', '.join(outside) or '*'}")
    return found


def the_tree() -> list[Import]:
    found = []
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            name = module_name(path)
            found += imports_of(name, path.read_text("utf-8"), path.name == "__init__.py")
    return found


def test_the_tree_keeps_the_rules():
    assert violations(the_tree()) == []


@pytest.mark.parametrize(
    ("module", "source", "complaint"),
    [
        ("imias.platform.health", "from imias.booking import Engine", "platform may not import"),
        ("imias.booking.api", "from imias.app import create_app", "booking may not import root"),
        ("imias.booking.api", "import imias.channels.portal", "may not import channels"),
        ("imias.registry.patients", "from imias.identity import Identity", "may not import"),
        ("imias.booking.service", "from loadtest.walk import book", "may not import loadtest"),
        ("imias.channels.kiosk.pages", "from imias.booking.search import ready", "front door"),
        ("imias.channels.kiosk.pages", "from imias.booking import _internal", "private name"),
        ("imias.channels.kiosk.pages", "from imias.booking import repository", "__all__"),
        ("imias.booking.api", "from scheduler_core._snapshot import HEADER", "private name"),
        ("imias.channels.portal.pages", "from ...booking.service import X", "front door"),
        ("loadtest.bench.booking", "from imias.identity.tokens import mint", "front door"),
    ],
)
def test_a_forbidden_import_is_found(module, source, complaint):
    found = violations(imports_of(module, source, is_package=False))
    assert len(found) == 1 and complaint in found[0], found


def test_the_app_and_the_cli_may_assemble_anything():
    found = violations(imports_of("imias.domains", "from imias.booking.plugin import P", False))
    assert found == []


# -- SQL of the platform -------------------------------------------------------------

_TABLE = re.compile(r"CREATE\s+(?:UNLOGGED\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.I)
_SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|JOIN|TABLE)\b")


def domain_tables() -> dict[str, str]:
    """Each table a domain's migrations make, and the domain."""
    tables = {}
    for folder in ROOT.glob("imias/*/migrations"):
        domain = folder.parent.name
        if domain == "platform":
            continue
        for path in folder.glob("*.sql"):
            for name in _TABLE.findall(path.read_text("utf-8")):
                tables[name] = domain
    return tables


def sql_of(path: Path) -> list[str]:
    """The SQL a platform file holds: a migration's statements (comments dropped), or the
    string literals of a module that read as SQL."""
    text = path.read_text("utf-8")
    if path.suffix == ".sql":
        return [re.sub(r"--[^\n]*", "", text)]
    tree = ast.parse(text)
    prose = {  # docstrings and other bare strings: words, not statements
        id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in prose
        and _SQL.search(node.value)
    ]


def test_no_domain_table_appears_in_the_platforms_sql():
    tables = domain_tables()
    assert {"patients", "appointments", "staff_accounts"} <= set(tables)
    found = []
    for path in sorted((ROOT / "imias" / "platform").rglob("*")):
        if path.suffix not in (".py", ".sql"):
            continue
        for sql in sql_of(path):
            for table, domain in tables.items():
                if re.search(rf"\b{table}\b", sql):
                    found.append(f"{path.relative_to(ROOT)}: {domain}'s {table}")
    assert found == []


def test_a_domain_table_in_platform_sql_would_be_found(tmp_path):
    leak = tmp_path / "leak.py"
    leak.write_text('Q = "SELECT id FROM patients WHERE id = $1"\n')
    assert any("patients" in s for s in sql_of(leak))
