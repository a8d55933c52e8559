from django.utils.functional import SimpleLazyObject

from .views import current_directory, directory_choices


def directory(request):
    """The directory switcher of the top bar: the current directory and the ones the user can switch
    to — lazy, so an htmx partial that never shows the top bar (the replication poll) costs nothing."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "current_directory": SimpleLazyObject(lambda: current_directory(request)),
        "directories": SimpleLazyObject(lambda: directory_choices(request)),
    }
