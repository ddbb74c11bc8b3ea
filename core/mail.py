"""Where mail goes when no mail server is configured (DJANGO_EMAIL_HOST empty): into the log,
one warning per message with its subject, recipients and body, so the daily digest neither
fails against a server that is not there nor disappears without a trace."""

import logging

from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger("cadence.mail")


class LogEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        for message in email_messages:
            logger.warning(
                "mail not sent (set DJANGO_EMAIL_HOST to send it): to=%s subject=%s\n%s",
                ", ".join(message.recipients()),
                message.subject,
                message.body,
            )
        return len(email_messages)
