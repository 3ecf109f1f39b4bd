"""The compiled engine's type stub says what the reference says.

The type checker sees the reference Calendar (scheduler_core/__init__.py); ``_engine.pyi``
is what it would see of the compiled module, so the two must not drift apart.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import scheduler_core
from scheduler_core import reference

STUB = Path(scheduler_core.__file__).with_name("_engine.pyi")


def _stub_calendar() -> type:
    """The stub's Calendar as a class (its annotations kept as strings, as in reference)."""
    source = "from __future__ import annotations\n" + STUB.read_text()
    code = compile(source, str(STUB), "exec", dont_inherit=True)
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    return namespace["Calendar"]


def _public_api(cls: type) -> dict[str, tuple[str, inspect.Signature]]:
    api = {}
    for name, attr in vars(cls).items():
        if name.startswith("_") and name != "__init__":
            continue
        if isinstance(attr, property):
            api[name] = ("property", inspect.signature(attr.fget))
        elif isinstance(attr, classmethod):
            api[name] = ("classmethod", inspect.signature(attr.__func__))
        else:
            api[name] = ("method", inspect.signature(attr))
    return api


def test_stub_has_the_references_signatures():
    stub, ref = _public_api(_stub_calendar()), _public_api(reference.Calendar)
    assert sorted(stub) == sorted(ref)
    for name in ref:
        assert stub[name] == ref[name], name
