"""The JSON Schema of an environment file, for editors: every key with its type, bounds and description."""

from typing import Any

from runbook.config.models import RunbookConfig


def environment_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) an editor validates an environment file against.

    `timeouts` is filled from the profile, so neither it nor its fields are required in the file.

    Example:
        >>> environment_schema()["title"]
        'staging-runbook environment'
    """
    schema = RunbookConfig.model_json_schema()
    schema["required"] = [key for key in schema.get("required", []) if key != "timeouts"]
    schema["$defs"]["Timeouts"].pop("required", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "staging-runbook environment"
    return schema
