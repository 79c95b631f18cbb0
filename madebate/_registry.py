"""One typed registry per kind of plug-in, filled by decorator registration."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from madebate._errors import ConfigError
from madebate._text import quote_name

T = TypeVar("T")


class Registry(Generic[T]):
    """A typed registry of named things (protocols, providers, persona sources, metrics) with
    decorator registration; an unknown name fails with the valid names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._items[name] = item
            return item

        return decorator

    def get(self, name: str, *, field: str | None = None, source: str | None = None) -> T:
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(sorted(self._items))
            close = difflib.get_close_matches(str(name), list(self._items), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            # An invisible character or a look-alike letter shown, not left to look right.
            shown = quote_name(name) if isinstance(name, str) else f"'{name}'"
            raise ConfigError(
                f"unknown {self.kind} {shown}{hint}; valid: {valid}", field=field, source=source
            ) from None

    def unregister(self, name: str) -> T:
        """Remove a registration and return it (a plug-in registered for a while, as the test
        suite's model seam does); an unknown name fails as `get` does."""
        item = self.get(name)
        del self._items[name]
        return item

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
