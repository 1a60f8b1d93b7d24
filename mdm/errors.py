"""Errors a user can fix; the CLI prints them as one line, without a traceback."""


class MdmError(Exception):
    """Base class of errors caused by input, configuration or state, not by a bug."""


class ConfigError(MdmError):
    pass


class StoreError(MdmError):
    pass
