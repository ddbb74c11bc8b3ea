"""One error body for every failure: {"error": {"status": 400, "message": "...", "fields":
{"start": ["..."]}}}; the services' ValidationErrors become 400s with their fields, and a write
on a meeting no longer planned a 409 carrying the meeting as it is now."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from api.serializers import VisitSerializer
from core.status import api_error_body
from visits.models import Visit
from visits.services import ClientUUIDTaken, NotPlanned


def error_response(code: int, message: str, fields: dict | None = None) -> Response:
    return Response(api_error_body(code, message, fields), code)


def form_error_response(form) -> Response:
    fields = {name: list(messages) for name, messages in form.errors.items()}
    # Rows of a form within the form (a visit's asks), named as the JSON has them: asks[0].text.
    fields |= getattr(form, "nested_errors", dict)()
    general = fields.pop("__all__", [])
    message = " ".join(general) or "Some fields are not valid."
    return error_response(status.HTTP_400_BAD_REQUEST, message, fields)


def _not_planned(exc: NotPlanned) -> Response:
    """A write on a meeting no longer planned: 409, with the meeting as it is now, so the client
    can show the caller's version beside it."""
    response = error_response(status.HTTP_409_CONFLICT, exc.messages[0])
    current = Visit.objects.filter(pk=exc.visit_id).prefetch_related("contacts").first()
    response.data["error"]["current"] = VisitSerializer(current).data if current else None
    return response


def api_exception_handler(exc, context):
    if isinstance(exc, NotPlanned):
        return _not_planned(exc)
    if isinstance(exc, ClientUUIDTaken):
        return error_response(409, exc.messages[0])
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {}
        general = fields.pop("__all__", []) if fields else exc.messages
        return error_response(400, " ".join(general) or "Some fields are not valid.", fields)
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        body = {"status": response.status_code, "message": str(data["detail"]), "fields": {}}
    elif isinstance(data, dict):
        general = data.pop("non_field_errors", [])
        body = {
            "status": response.status_code,
            "message": " ".join(map(str, general)) or "Some fields are not valid.",
            "fields": data,
        }
    else:
        body = {"status": response.status_code, "message": " ".join(map(str, data)), "fields": {}}
    response.data = {"error": body}
    return response
