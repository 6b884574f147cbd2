"""The control plane's one error tree; ``control_plane.api`` serialises it in one place.

    ControlPlaneError      stable ``code`` + HTTP status + a message for humans
    ├── BadInput           400  invalid_arguments, invalid_inventory, unknown_region, invalid_json
    ├── Unauthenticated    401  not_authed, invalid_auth
    ├── Forbidden          403  forbidden (the token lacks the role)
    ├── NotFound           404  unknown_cell, unknown_workspace
    ├── Refused            409  policy says no: no_capacity, no_active_cell, pin_conflict, region_pinned, ...
    ├── Gone               410  link_expired (a signed link past its time)
    └── Upstream           502  a cell did not answer or refused (cell_unavailable, cell_refused)
"""

from __future__ import annotations

from typing import Any


class ControlPlaneError(Exception):
    status = 500

    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code, "message": self.message, **self.extra}


class BadInput(ControlPlaneError):
    status = 400


class Unauthenticated(ControlPlaneError):
    status = 401


class Forbidden(ControlPlaneError):
    status = 403


class NotFound(ControlPlaneError):
    status = 404


class Refused(ControlPlaneError):
    status = 409


class Gone(ControlPlaneError):
    status = 410


class Upstream(ControlPlaneError):
    status = 502
