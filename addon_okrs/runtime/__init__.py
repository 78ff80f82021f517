"""Spark's own runtime, below the Dagster graph: the Java it starts on, local mode's sizes and
defaults, every setting a run's session is built with, and the class archive its driver maps.
Configured by the settings; nothing here knows Dagster."""
