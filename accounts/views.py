from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from accounts.models import Role
from accounts.permissions import role_required
from crm.http import HtmxHttpRequest
from crm.selectors import data_overview


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    return redirect(request.user.get_home_url())


@require_GET
@role_required(Role.ADMIN)
def admin_home(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "accounts/admin_home.html", {"overview": data_overview()})
