from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class JSONObjectParser(JSONParser):
    """Every write takes a JSON object: a list, a string or a number is refused as such (400)
    before any view looks inside it."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON nested too deeply.") from None
        if not isinstance(data, dict):
            raise ParseError("Send a JSON object.")
        return data
