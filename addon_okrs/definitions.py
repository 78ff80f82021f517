"""The code location Dagster loads (workspace.yaml, `dagster ... -m addon_okrs.definitions`):
the settings are read from the environment here, once, and everything is built from them."""

from addon_okrs.defs.code_location import build_definitions
from addon_okrs.settings import Settings

defs = build_definitions(Settings.from_env())
