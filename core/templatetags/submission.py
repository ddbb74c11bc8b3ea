"""{% submission_key form %}: the one-time key a form carries so that sending it twice acts
once (crm.services.form_submission_claim). A form shown again with its errors keeps the key it
was sent with; any other form gets a new one."""

import uuid

from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def submission_key(form) -> str:
    resent = form is not None and form.is_bound and form.errors
    sent = form.data.get("submission", "") if resent else ""
    try:
        key = uuid.UUID(sent)
    except ValueError:
        key = uuid.uuid4()
    return format_html('<input type="hidden" name="submission" value="{}">', key)
