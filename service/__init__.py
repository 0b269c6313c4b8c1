"""The running book service: settings, MongoDB access, events, auth, app factory, CLI."""
