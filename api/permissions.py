from rest_framework import permissions

from api.models import AccessToken


class TokenScope(permissions.BasePermission):
    """A read-only token reads; it never writes. An integration token pushes invoices and
    support cases (the viewset actions named in `integration_actions`) and reads customers
    (the read actions named in `integration_reads`): nothing else, whatever its owner may do."""

    message = "This token is read-only."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, AccessToken):
            return True
        safe = request.method in permissions.SAFE_METHODS
        if token.integration:
            self.message = "An integration token only pushes invoices and support cases."
            action = getattr(view, "action", None)
            return action in getattr(view, "integration_actions", ()) or (
                safe and action in getattr(view, "integration_reads", ())
            )
        return safe or not token.read_only
