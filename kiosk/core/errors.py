"""Errors the core raises for bad requests; each message is fit to show a user."""


class KioskError(Exception):
    """Base of the jukebox's own errors."""


class NotFoundError(KioskError, LookupError):
    """An unknown track, playlist or queue entry was named."""


class InvalidRequestError(KioskError, ValueError):
    """A request that cannot be carried out: out-of-range position, duplicate name, bad value."""


class SettingError(InvalidRequestError):
    """An unknown setting or a value outside what the setting allows."""


class DatabaseError(KioskError):
    """The library database cannot be used (not SQLite, newer schema, unreadable)."""


class DeviceError(KioskError):
    """A sound device, screen or pin that is missing or refuses to open."""
