"""Configuration: the validated models of an environment file, their validators, reading files, the JSON Schema."""
