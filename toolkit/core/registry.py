"""Name → factory registries with did-you-mean on a miss (one source of truth per plugin kind)."""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

from toolkit.core.errors import UserError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, field: str):
        self.kind, self.field = kind, field
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._items[name] = obj
            return obj
        return deco

    def get(self, name: str) -> T:
        if name not in self._items:
            raise UserError(self.field, name, f"unknown {self.kind}; {did_you_mean(name, self._items)}")
        return self._items[name]

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items
