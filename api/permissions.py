from rest_framework import permissions

from api.models import AccessToken


class TokenScope(permissions.BasePermission):
    """A read-only token reads; it never writes."""

    message = "This token is read-only."

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, AccessToken) and request.auth.read_only:
            return request.method in permissions.SAFE_METHODS
        return True
