def directory(request):
    """The directory switcher of the top bar: the current directory and the ones the user can switch to."""
    from .views import current_directory, directory_choices

    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"current_directory": current_directory(request), "directories": directory_choices(request)}
