"""core.forms.PlainSelect renders what Django's Select renders, faster."""

import re

import pytest
from django import forms

from accounts.models import User
from core.forms import PlainSelect
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OPTION = re.compile(r'<option value="([^"]*)"( selected)?>([^<]*)</option>')


def options(html: str) -> list[tuple]:
    return [(value, bool(selected), label) for value, selected, label in OPTION.findall(html)]


@pytest.mark.parametrize("chosen", [None, "second"])
def test_the_options_escaping_and_selection_match_djangos_select(chosen):
    first = UserFactory(username="first", first_name='<b>"Ann" & co</b>', last_name="")
    second = UserFactory(username="second", first_name="Bob", last_name="O'Hara")

    def form(widget):
        class Filter(forms.Form):
            who = forms.ModelChoiceField(
                queryset=User.objects.filter(pk__in=[first.pk, second.pk]).order_by("username"),
                required=False,
                empty_label="Everyone",
                widget=widget,
            )

        data = {"who": second.pk} if chosen else {}
        return str(Filter(data)["who"])

    plain, django = form(PlainSelect), form(forms.Select)
    assert options(plain) == options(django)
    assert len(options(plain)) == 3 and "&lt;b&gt;" in plain and "<b>" not in plain
    assert [selected for _value, selected, _label in options(plain)] == (
        [False, False, True] if chosen else [True, False, False]
    )
    assert 'name="who"' in plain and 'id="id_who"' in plain
