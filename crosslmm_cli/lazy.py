"""Names a package exports but imports on first use, so importing the package stays cheap.

The CLI imports `crosslmm_cli.video` and `crosslmm_cli.engine` as it starts (for their options);
their heavy modules (numpy, torch) load only when a command touches one of those names.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package` that imports each of `names` (name -> module) when first asked for."""

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # loaded once: the next lookup finds it directly
        return value

    return __getattr__
