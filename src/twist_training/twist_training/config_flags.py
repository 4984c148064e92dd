"""Command-line flags for flat dataclass configs: one ``--field-name`` flag per field.

Used by ``train_cmg``/``eval_cmg`` (``cmg.config.TrainConfig``) and ``make_dataset``
(``data.dataset.DatasetConfig``). Every flag defaults to None, meaning "keep the value from the
YAML file or the dataclass default"; ``apply_flags`` copies only the flags that were given.
Booleans accept 1/0, true/false, yes/no, on/off; list fields take several values.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def parse_bool(text: str) -> bool:
    v = str(text).strip().lower()
    if v in TRUE_WORDS:
        return True
    if v in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def field_type(cls: type, name: str) -> Any:
    """The declared type of a field, with ``X | None`` reduced to ``X``."""
    t = typing.get_type_hints(cls)[name]
    if isinstance(t, types.UnionType) or typing.get_origin(t) is typing.Union:
        t = next(a for a in typing.get_args(t) if a is not type(None))
    return t


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add ``--field-name`` for every field of the dataclass ``cls`` (default None)."""
    defaults = cls()
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        t = field_type(cls, f.name)
        help_text = f"(default {getattr(defaults, f.name)})"
        if t is bool:
            parser.add_argument(
                flag, dest=f.name, type=parse_bool, default=None, metavar="BOOL", help=help_text
            )
        elif typing.get_origin(t) is list:
            (elem,) = typing.get_args(t)
            parser.add_argument(flag, dest=f.name, type=elem, nargs="*", default=None, help=help_text)
        else:
            parser.add_argument(
                flag, dest=f.name, type=t, default=None, metavar=t.__name__.upper(), help=help_text
            )


def given_flags(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` whose flags were given on the command line."""
    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if getattr(args, f.name, None) is not None
    }
