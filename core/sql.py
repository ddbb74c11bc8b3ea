"""Raw SQL is composed one way (CONVENTIONS.md, "Raw SQL"), with psycopg.sql:

- statement text and fragments of our own are `sql.SQL` (through `compose` or `fragment`);
- table, alias and column names are `sql.Identifier` (`identifier`);
- values fixed when the code is written (enum members, thresholds) are `sql.Literal`, taken from
  the enums and constants themselves;
- values known only at run time are psycopg parameters, `%(name)s`, passed to `execute`.

Never an f-string, `str.format`, `%` or `+` on SQL text: tests/test_one_home.py fails on them.
"""

import enum
from collections.abc import Iterable

from psycopg import sql

Composable = sql.Composable
Composed = sql.Composed


def _part(value) -> sql.Composable:
    if isinstance(value, sql.Composable):
        return value
    if isinstance(value, str) and not isinstance(value, enum.Enum):
        # SQL text and a value must not pass for each other: wrap text in fragment(), a value
        # in literal().
        raise TypeError(f"a plain str is ambiguous in SQL: {value[:40]!r}")
    if isinstance(value, list | tuple | set | frozenset):
        return literals(value)
    return sql.Literal(value)


def compose(template: str, /, **parts) -> sql.Composed:
    """`template` (SQL text of our own) with each {name} replaced by its part: a Composable as
    it is, an enum member or number as a literal, a list or tuple as comma-separated literals.
    Run-time values stay `%(name)s` parameters for `execute`."""
    return sql.SQL(template).format(**{key: _part(value) for key, value in parts.items()})


def fragment(text: str) -> sql.SQL:
    """A piece of SQL text of our own with no holes, e.g. an expression passed to a rule."""
    return sql.SQL(text)


def identifier(*path: str) -> sql.Identifier:
    """A quoted (qualified) name: name("c", "id") is "c"."id"."""
    return sql.Identifier(*path)


def literal(value) -> sql.Literal:
    return sql.Literal(value)


def literals(values: Iterable) -> sql.Composed:
    """Values as a comma-separated list of literals, e.g. for IN (...)."""
    return sql.SQL(", ").join(sql.Literal(value) for value in values)


def joined(parts: Iterable[sql.Composable], separator: str = ", ") -> sql.Composed:
    return sql.SQL(separator).join(parts)
