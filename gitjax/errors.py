"""Errors a user can cause and fix; each message is one line saying what to do.

launch.py prints `error: <message>` for any of them and exits with code 2,
without a traceback.
"""


class UserError(Exception):
  """Base class: bad input that the user can correct."""


class ConfigError(UserError, ValueError):
  """A config key or value a run cannot use."""


class DataError(UserError):
  """Missing or malformed data."""


class WorkdirError(UserError):
  """A workdir that holds results this run must not touch."""


class NonFiniteError(UserError):
  """A loss or metric became NaN or Inf; the last good checkpoint is kept."""
