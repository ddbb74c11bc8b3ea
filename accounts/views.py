import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.forms import RemindersForm
from accounts.push import (
    push_send,
    push_subscription_remove,
    push_subscription_save,
    vapid_public_key,
)
from accounts.services import user_reminders_set
from core.http import HtmxHttpRequest

# A browser's subscription is a few hundred bytes; anything much larger is not one.
MAX_SUBSCRIPTION_BYTES = 4096


@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    return redirect(request.user.get_home_url())


@require_http_methods(["GET", "POST"])
def reminders(request: HtmxHttpRequest) -> HttpResponse:
    """The user's own reminder switches: the morning e-mail, notifications on their devices,
    the calendar's alarm and follow-ups."""
    form = RemindersForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        user_reminders_set(user=request.user, **form.cleaned_data)
        messages.success(request, "Reminders saved.")
        return redirect("reminders")
    return render(
        request,
        "accounts/reminders.html",
        {
            "form": form,
            "vapid_public_key": vapid_public_key(),
            "devices": request.user.push_subscriptions.order_by("-created_at"),
        },
    )


def _subscription(request: HtmxHttpRequest, *, keys_needed: bool = True) -> dict:
    if len(request.body) > MAX_SUBSCRIPTION_BYTES:
        raise ValidationError("That is not a browser's push subscription.")
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise ValidationError("That is not a browser's push subscription.") from None
    keys = body.get("keys", None if keys_needed else {}) if isinstance(body, dict) else None
    if not isinstance(keys, dict) or not all(
        isinstance(value, str) for value in (body.get("endpoint"), *keys.values())
    ):
        raise ValidationError("That is not a browser's push subscription.")
    return {"endpoint": body["endpoint"], "keys": keys}


@require_POST
def push_subscribe(request: HtmxHttpRequest) -> JsonResponse:
    """The field app turns notifications on for this device (a PushSubscription's JSON)."""
    if vapid_public_key() is None:
        return JsonResponse({"error": "Notifications are not set up on this server."}, status=409)
    try:
        subscription = _subscription(request)
        push_subscription_save(
            user=request.user,
            endpoint=subscription["endpoint"],
            p256dh=subscription["keys"].get("p256dh", ""),
            auth=subscription["keys"].get("auth", ""),
            device=request.headers.get("User-Agent", ""),
        )
    except ValidationError as error:
        return JsonResponse({"error": " ".join(error.messages)}, status=400)
    return JsonResponse({"subscribed": True}, status=201)


@require_POST
def push_unsubscribe(request: HtmxHttpRequest) -> JsonResponse:
    try:
        endpoint = _subscription(request, keys_needed=False)["endpoint"]
    except ValidationError as error:
        return JsonResponse({"error": " ".join(error.messages)}, status=400)
    removed = push_subscription_remove(user=request.user, endpoint=endpoint)
    return JsonResponse({"removed": removed})


@require_POST
def push_test(request: HtmxHttpRequest) -> HttpResponse:
    """A test notification to each of the user's devices, so they see it works."""
    result = push_send(
        list(request.user.push_subscriptions.all()),
        title="Cadence notifications work",
        body="Meetings coming, follow-ups and asks due will show like this.",
        url=reverse("reminders"),
        tag="test",
    )
    if result.delivered:
        messages.success(request, f"Test notification sent to {result.delivered} device(s).")
    else:
        messages.error(
            request,
            "No device took the notification. Turn notifications on again on this phone.",
        )
    return redirect("reminders")
