"""Click options derived from a pydantic settings model, so each option is declared once.

Every field becomes `--field-name`, also read from `MODELPLANE_FIELD_NAME`; booleans become
`--flag/--no-flag`. A field whose `json_schema_extra` lists `flag_aliases` (`["--model_dir"]`) is
also taken under those flags: another program's spelling of the same option, declared on the
field, not here. Options default to "not given", so the settings model's own defaults apply.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

F = TypeVar("F", bound=Callable[..., Any])
ALIASES_KEY = "flag_aliases"


def _base_type(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return annotation


def flag(name: str) -> str:
    """The option of a settings field: `http_port` is `--http-port`."""
    return "--" + name.replace("_", "-")


def failure(exc: Exception) -> click.ClickException:
    """One line and exit status 1; a port that cannot be had names the option that chose it."""
    from modelplane.core import errors

    if isinstance(exc, errors.PortUnavailable):
        option = flag(exc.setting)
        return click.ClickException(f"cannot listen on {exc.address} ({option}): {exc.reason}")
    return click.ClickException(str(exc))


def aliases(field: FieldInfo) -> list[str]:
    """The other flags a field's option is taken under (its `flag_aliases`)."""
    extra = field.json_schema_extra
    listed = extra.get(ALIASES_KEY, []) if isinstance(extra, dict) else []
    return [str(name) for name in listed] if isinstance(listed, list) else []


def from_settings(model: type[BaseModel], env_prefix: str) -> Callable[[F], F]:
    """A decorator adding one option per field of `model`."""

    def decorate(func: F) -> F:
        for name, field in reversed(list(model.model_fields.items())):
            flag_name = flag(name)
            kind = _base_type(field.annotation)
            default = field.get_default(call_default_factory=True)
            help_text = field.description or ""
            if default is not None:
                help_text += f"  [default: {default}]"
            common: dict[str, Any] = {
                "default": None,
                "envvar": env_prefix + name.upper(),
                "show_envvar": True,
                "help": help_text,
            }
            if kind is bool:
                option = click.option(f"{flag_name}/--no-{flag_name[2:]}", name, **common)
            else:
                if kind is Path:
                    click_type: Any = click.Path(path_type=Path)
                elif typing.get_origin(kind) is typing.Literal:
                    click_type = click.Choice([str(v) for v in typing.get_args(kind)])
                else:
                    click_type = kind
                flags = [flag_name, *aliases(field)]
                option = click.option(*flags, name, type=click_type, **common)
            func = option(func)
        return func

    return decorate


def build(model: type[BaseModel], values: dict[str, Any]) -> Any:
    """Validate the given options; a bad value is a usage error naming the option."""
    given = {k: v for k, v in values.items() if v is not None}
    try:
        return model(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'.'.join(str(p) for p in err['loc']).replace('_', '-')}: {err['msg']}"
            for err in exc.errors()
        )
        raise click.UsageError(problems) from None
