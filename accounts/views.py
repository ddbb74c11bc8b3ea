from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from core.http import HtmxHttpRequest


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    return redirect(request.user.get_home_url())
