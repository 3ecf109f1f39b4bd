"""Build of the compiled parts: the scheduler_core engine (Cython).

Every ``.pyx`` under ``scheduler_core/`` is compiled with the directives the
project uses everywhere (see CONVENTIONS.md). ``IMIAS_NO_EXTENSIONS=1`` at build
time skips compilation; at run time it selects the pure-Python reference.
"""

import os
from pathlib import Path

from setuptools import setup


def extensions():
    if os.environ.get("IMIAS_NO_EXTENSIONS") == "1":
        return []
    sources = sorted(Path("scheduler_core").glob("*.pyx"))
    if not sources:
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    exts = [
        Extension(
            "scheduler_core." + src.stem,
            [str(src)],
            extra_compile_args=["-O3"],
        )
        for src in sources
    ]
    return cythonize(
        exts,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
        annotate=os.environ.get("IMIAS_CYTHON_ANNOTATE") == "1",
    )


setup(ext_modules=extensions())
