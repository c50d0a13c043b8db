"""The Prefect server's values in a dict, for tests of the run's memory without a server."""

from typing import Any


class MemoryValues:
    """The Prefect server's values (runbook.server_values.ValueStore) in a dict: for tests without a server.

    `fail` makes every call raise ValuesUnavailable (a server that does not answer).
    """

    def __init__(self, fail: bool = False) -> None:
        self.data: dict[str, Any] = {}
        self.tags: dict[str, list[str]] = {}
        self.fail = fail
        self.calls: list[tuple[str, str]] = []

    def _call(self, method: str, name: str) -> None:
        from runbook.server_values import ValuesUnavailable

        self.calls.append((method, name))
        if self.fail:
            raise ValuesUnavailable(f"Prefect did not answer within 5 s ({method} of {name})")

    async def read(self, name: str) -> Any:
        self._call("read", name)
        return self.data.get(name)

    async def write(self, name: str, value: Any, tags: Any = ()) -> None:
        import json

        from runbook.server_values import MAX_VALUE_CHARS, ValuesUnavailable, json_size

        self._call("write", name)
        if json_size(value) > MAX_VALUE_CHARS:
            raise ValuesUnavailable(f"value of {name} too large for a Prefect variable")
        self.data.pop(name, None)
        self.data[name] = json.loads(json.dumps(value))  # what a JSON round trip through the server leaves
        self.tags[name] = list(tags)

    async def delete(self, name: str) -> None:
        self._call("delete", name)
        self.data.pop(name, None)

    async def names_beyond(self, tag: str, keep: int) -> list[str]:
        self._call("names_beyond", tag)
        tagged = [name for name in self.data if tag in self.tags.get(name, [])]
        return list(reversed(tagged))[keep:]  # newest first (insertion order is age order here)
