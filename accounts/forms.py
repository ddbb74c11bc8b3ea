from django import forms

from accounts.models import User
from accounts.services import REMINDER_FIELDS


class RemindersForm(forms.ModelForm):
    class Meta:
        model = User
        fields = list(REMINDER_FIELDS)
