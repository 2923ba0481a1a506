"""SHA-256 without loading OpenSSL: the digest every cache key and memo of the warm path uses.

`hashlib` loads OpenSSL's `_hashlib` on import, about 2.5 ms of a run's start-up; CPython's
own SHA-256 (`_sha2` since 3.12, `_sha256` before) is built in and gives the same digests.
Where neither exists, `hashlib` is used.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class Hash(Protocol):
        def update(self, data: bytes, /) -> None: ...

        def hexdigest(self) -> str: ...

        def digest(self) -> bytes: ...


def sha256(data: bytes = b"") -> Hash:
    """A SHA-256 hash object, fed `data`."""
    try:
        from _sha2 import sha256 as make  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        try:
            from _sha256 import sha256 as make  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            from hashlib import sha256 as make  # type: ignore[assignment,unused-ignore]
    result: Hash = make(data)
    return result
