from django.apps import AppConfig


class WildcatConfig(AppConfig):
    name = "wildcat"
    verbose_name = "Wildcat"

    def ready(self) -> None:
        from wildcat import checks  # noqa: F401 - registers the system checks
        from wildcat.api import schema  # noqa: F401 - registers the OpenAPI auth extension
