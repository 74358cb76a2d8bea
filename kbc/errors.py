"""Errors that kbc reports to the user as one line, never as a traceback."""


class KbcError(Exception):
    """A problem with the user's input, config or environment; its message is the one line shown."""


class ConfigError(KbcError):
    pass


class VaultNotFound(KbcError):
    pass
