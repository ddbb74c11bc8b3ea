from collections.abc import Callable
from functools import wraps

from django.http import Http404, HttpRequest, HttpResponse

from accounts.models import Role


def role_required(*roles: Role) -> Callable:
    """Let only users of the given roles in; everyone else gets a 404, which does not confirm
    that the page exists. Superusers count as admins."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            user = request.user
            allowed = user.role in roles or (Role.ADMIN in roles and user.is_superuser)
            if not allowed:
                raise Http404("No such page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
