"""Forms of the webhooks pages in the operator console: a new endpoint, and replaying failures since a time."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.utils import timezone

from accounts.models import WaConnection
from webhooks.models import WebhookEndpoint
from wildcat import destinations
from wildcat.event_types import EventType


class EndpointCreateForm(forms.ModelForm):
    """What the API takes, checked the same way: the SSRF guard on the URL, the key's own connection, the limit."""

    event_types = forms.MultipleChoiceField(
        choices=[(member.value, member.value) for member in EventType],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to receive every event type.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["api_key", "connection", "url", "description", "event_types"]
        labels = {"api_key": "API key", "url": "URL"}
        help_texts = {
            "url": "http or https. Private and local addresses are refused unless the operator allows their network.",
            "connection": "Only events of this connection; empty means all of the key's connections.",
        }

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        try:
            destinations.validate_url(url)
        except destinations.UnsafeDestination as exc:
            raise forms.ValidationError(f"This destination is not allowed: {exc.message}")
        return url

    def clean(self) -> dict:
        data = super().clean()
        api_key, connection = data.get("api_key"), data.get("connection")
        if api_key is not None and connection is not None and connection.api_key_id != api_key.pk:
            self.add_error("connection", "This connection belongs to another API key.")
        limit = settings.WILDCAT_MAX_WEBHOOKS_PER_KEY
        if api_key is not None and WebhookEndpoint.objects.filter(api_key=api_key).count() >= limit:
            self.add_error("api_key", f"This API key already has {limit} webhook endpoints, the maximum.")
        return data

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connection"].queryset = WaConnection.objects.select_related("api_key").order_by("name")


class ReplaySinceForm(forms.Form):
    since = forms.DateTimeField(
        label="Replay failures since (UTC)",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("initial", {"since": timezone.now() - timedelta(hours=24)})
        super().__init__(*args, **kwargs)

    def clean_since(self):
        since = self.cleaned_data["since"]
        if since > timezone.now():
            raise forms.ValidationError("That time is in the future.")
        return since
