from rest_framework import permissions

from api.models import AccessToken


class TokenScope(permissions.BasePermission):
    """A read-only token reads; it never writes. An integration token pushes invoices and
    support cases (views with `integration_path`) and reads customers (`integration_reads`)."""

    message = "This token is read-only."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, AccessToken):
            return True
        safe = request.method in permissions.SAFE_METHODS
        if token.integration:
            self.message = "An integration token only pushes invoices and support cases."
            return getattr(view, "integration_path", False) or (
                safe and getattr(view, "integration_reads", False)
            )
        return safe or not token.read_only
