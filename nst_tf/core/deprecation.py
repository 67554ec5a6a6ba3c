"""The names of the version before, kept for one more: each warns when it is used."""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable
import warnings


def warn(old: str, new: str, stacklevel: int = 3) -> None:
  """A DeprecationWarning that `old` is now `new`, pointing at the code that used
  `old` (by default the caller of the function that calls this)."""
  warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=stacklevel)


def renamed(old: str, new: str, value: Any) -> Any:
  """`value`, with the warning that `old` is now `new`: for a property of the old name."""
  warn(old, new, stacklevel=4)
  return value


def moved_module(name: str, new: ModuleType) -> Callable[[str], Any]:
  """For a module `name` that moved to `new`: warns (unless it runs as __main__)
  and returns the module `__getattr__` that forwards every name to `new`."""
  if name != "__main__":
    warn(name, new.__name__, stacklevel=4)
  return lambda attribute: getattr(new, attribute)
