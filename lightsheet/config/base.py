"""The base of every config section: unknown keys refused, assignments validated and undone
when refused, an empty section meaning its defaults."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from typing_extensions import Self

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)
BYTES_PER_MB = 2**20
_UNSET = object()


class ConfigModel(BaseModel):
    """Base of every section: unknown keys are errors, and assignments are validated too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    def __setattr__(self, name: str, value: Any) -> None:
        # Pydantic stores an assigned value before running the model validators; when one of
        # them refuses it, put the previous value back so a refused assignment changes nothing.
        previous = self.__dict__.get(name, _UNSET)
        fields_set = set(self.__pydantic_fields_set__)
        try:
            super().__setattr__(name, value)
        except ValidationError:
            if previous is not _UNSET:
                self.__dict__[name] = previous
                self.__pydantic_fields_set__.clear()
                self.__pydantic_fields_set__.update(fields_set)
            raise

    def updated(self, **changes: Any) -> Self:
        """A validated copy with several fields changed at once.

        Assigning one field at a time cannot pass through a state that a cross-field rule
        refuses (trigger mode "wait" before its port is set); this validates them together.
        """
        return self.model_validate({**self.model_dump(), **changes})

    @model_validator(mode="before")
    @classmethod
    def _empty_section_means_defaults(cls, data: Any) -> Any:
        # `camera:` with every key commented out loads as null; the operator means "defaults".
        return {} if data is None else data
