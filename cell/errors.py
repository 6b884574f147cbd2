"""The cell's one error tree.

    CellError                 stable ``code`` (a Slack error code) + HTTP status
    ├── RateLimited           429, carries Retry-After
    ├── RequestTooLarge       413
    ├── WorkspaceMoved        421, names the cell that owns the workspace now
    └── WorkspaceFrozen       503, retryable: the workspace is being moved

Handlers raise these; one exception handler in ``cell.api.app`` turns them into
Slack's ``{"ok": false, "error": code}``; the gateway maps the same codes to
close codes.
"""

from __future__ import annotations

from typing import Any


class CellError(Exception):
    status = 200

    def __init__(self, code: str, *, detail: str | None = None, **extra: Any) -> None:
        super().__init__(code if detail is None else f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.code, **self.extra}
        if self.detail:
            body["response_metadata"] = {"messages": [f"[ERROR] {self.detail}"]}
        return body


class RateLimited(CellError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("ratelimited")
        self.retry_after = retry_after


class RequestTooLarge(CellError):
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__("request_too_large", detail=f"body exceeds {limit} bytes")


class WorkspaceMoved(CellError):
    status = 421

    def __init__(self, workspace_id: str, cell: str | None) -> None:
        super().__init__("workspace_moved", workspace=workspace_id, cell=cell)


class WorkspaceFrozen(CellError):
    status = 503

    def __init__(self, workspace_id: str) -> None:
        super().__init__("workspace_frozen", detail="workspace is moving; retry shortly", workspace=workspace_id)
