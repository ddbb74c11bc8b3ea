from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.forms import RemindersForm
from accounts.services import user_reminders_set
from core.http import HtmxHttpRequest


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    return redirect(request.user.get_home_url())


@require_http_methods(["GET", "POST"])
def reminders(request: HtmxHttpRequest) -> HttpResponse:
    """The user's own reminder switches: the calendar's alarm and follow-ups, the morning
    e-mail."""
    form = RemindersForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user_reminders_set(user=request.user, **form.cleaned_data)
        messages.success(request, "Reminders saved.")
        return redirect("reminders")
    return render(request, "accounts/reminders.html", {"form": form})
