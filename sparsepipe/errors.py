"""Errors that the CLI reports as one line: bad configuration, bad data files, bad graphs."""


class SparsepipeError(Exception):
    """Base class: the message alone must tell the user what to fix (key or file, and what was expected)."""


class ConfigError(SparsepipeError):
    """A configuration value is missing, unknown or out of range."""


class DataError(SparsepipeError):
    """A data or artifact file is missing, truncated or lacks what we need."""


class GraphError(SparsepipeError):
    """A graph cannot serve as a structural prior (e.g. a single node, no edges)."""
