"""A test client acting with one user's API token."""

from django.test import Client

from api.services import access_token_create


class Api:
    """A client acting with one user's token."""

    def __init__(self, user, **token_options):
        self.token = access_token_create(user=user, name="test", **token_options)[1]
        self.client = Client()

    def _headers(self, key):
        headers = {"Authorization": f"Bearer {self.token}"}
        return headers | ({"Idempotency-Key": key} if key else {})

    def get(self, url, params=None):
        return self.client.get(url, params or {}, headers=self._headers(None))

    def post(self, url, body, key=None):
        return self.client.post(
            url, body, content_type="application/json", headers=self._headers(key)
        )

    def patch(self, url, body):
        return self.client.patch(
            url, body, content_type="application/json", headers=self._headers(None)
        )
