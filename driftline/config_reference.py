"""The configuration reference (``docs/configuration.md``), generated from the pydantic models.

Contract:

* :func:`reference_rows` walks the services' top-level config models field by field, recursing
  into nested models (also inside maps and lists, and into each member of a discriminated union)
  and yields one :class:`Row` per key: dotted key path, type (with its bounds), default,
  ``DRIFTLINE_…`` environment variable, description, and the services that read it.
* A description is the field's ``description`` when set, else the ``#:`` comment lines right
  above the field in its class's source (the project's convention), else empty. Nothing is
  listed by hand: a field added to a model appears on the next run.
* :func:`render` turns the rows into Markdown; ``python -m driftline.config_reference --write
  docs/configuration.md`` writes it and ``--check`` exits 1 when the file differs from what the
  models produce (``tests/test_deploy.py`` runs the same comparison).

>>> from pydantic import BaseModel, Field
>>> class Inner(BaseModel):
...     count: int = Field(default=3, ge=1, description="How many.")
>>> class Root(BaseModel):
...     inner: Inner = Field(default_factory=Inner)
>>> Root.model_rebuild()  # doctests compile with this module's `from __future__ import annotations`
True
>>> [(r.key, r.type, r.default, r.env, r.description)
...  for r in reference_rows({"svc": Root})]
[('inner.count', 'int (≥ 1)', '3', 'DRIFTLINE_INNER__COUNT', 'How many.')]
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import re
import sys
import textwrap
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo

ENV_PREFIX = "DRIFTLINE_"
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


@dataclass
class Row:
    """One configuration key."""

    key: str
    type: str
    default: str
    env: str
    description: str
    services: list[str] = field(default_factory=list)
    section_doc: str = ""


def services() -> dict[str, type[BaseModel]]:
    """The top-level config model of each service command."""
    from consumer.config import ConsumerServiceConfig
    from retrain_worker.config import WorkerServiceConfig

    return {"driftline consume": ConsumerServiceConfig,
            "driftline retrain-worker": WorkerServiceConfig}


@cache
def _comments(cls: type) -> dict[str, str]:
    """``#:`` comment blocks above each annotated attribute of ``cls`` (its own source only)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    tree = ast.parse(source)
    out: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node in body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            block: list[str] = []
            i = node.lineno - 2
            while i >= 0 and lines[i].strip().startswith("#:"):
                block.insert(0, lines[i].strip()[2:].strip())
                i -= 1
            if block:
                out[node.target.id] = " ".join(block)
    return out


def _description(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    if info.description:
        return " ".join(info.description.split())
    for cls in model.__mro__:
        if name in getattr(cls, "__annotations__", {}):
            return _comments(cls).get(name, "")
    return ""


def _strip(tp: Any) -> tuple[Any, list[Any]]:
    """``tp`` without ``Annotated``, and the metadata it carried."""
    metadata: list[Any] = []
    while typing.get_origin(tp) is typing.Annotated:
        tp, *extra = typing.get_args(tp)
        metadata.extend(extra)
    return tp, metadata


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(tp)
    return None


def type_name(tp: Any) -> str:
    """A short, readable name of a type annotation.

    >>> type_name(dict[str, int | float]) + "; " + type_name(typing.Literal["a", "b"] | None)
    'map[str, int | float]; "a" | "b" | null'
    """
    tp, _ = _strip(tp)
    if tp is type(None):
        return "null"
    if tp is Any:
        return "any"
    members = _union_args(tp)
    if members is not None:
        return " | ".join(type_name(m) for m in members)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return " | ".join(json.dumps(v) for v in typing.get_args(tp))
    if origin in (dict, Mapping):
        key, value = typing.get_args(tp)
        return f"map[{type_name(key)}, {type_name(value)}]"
    if origin in (list, tuple, set, frozenset):
        return f"list[{', '.join(type_name(a) for a in typing.get_args(tp) if a is not ...)}]"
    return getattr(tp, "__name__", str(tp))


def _bounds(metadata: list[Any]) -> str:
    parts: list[str] = []
    for item in metadata:
        for attr, sign in _BOUNDS:
            value = getattr(item, attr, None)
            if value is not None and isinstance(item, annotated_types.BaseMetadata):
                parts.append(f"{sign} {value}")
        if isinstance(item, annotated_types.MinLen) and item.min_length:
            parts.append(f"length ≥ {item.min_length}")
    return f" ({', '.join(parts)})" if parts else ""


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True, validated_data={})
    dumped = TypeAdapter(Any).dump_python(value, mode="json")
    return json.dumps(dumped, ensure_ascii=False)


def _env(path: list[str], annotation: Any) -> str:
    if any("[" in part for part in path):
        return ""
    env = ENV_PREFIX + "__".join(part.upper() for part in path)
    if typing.get_origin(_strip(annotation)[0]) in (dict, Mapping):
        env += "__<PROPERTY>" if path == ["kafka"] else "__<KEY>"
    return env


def _models_inside(tp: Any) -> list[tuple[str, type[BaseModel]]]:
    """(path suffix, model) of each model a container type holds: ``<key>`` for maps, ``[]``
    for lists, the discriminator value for a union member."""
    tp, _ = _strip(tp)
    members = _union_args(tp)
    if members is not None:
        return [found for member in members for found in _models_inside(member)]
    if _is_model(tp):
        return [("", tp)]
    origin = typing.get_origin(tp)
    if origin in (dict, Mapping):
        _, value = typing.get_args(tp)
        return [(f".<key>{suffix}", model) for suffix, model in _models_inside(value)]
    if origin in (list, tuple, set, frozenset):
        return [(f"[]{suffix}", model) for arg in typing.get_args(tp) if arg is not ...
                for suffix, model in _models_inside(arg)]
    return []


def _walk(model: type[BaseModel], path: list[str],
          seen: dict[type[BaseModel], str]) -> Iterator[Row]:
    for name, info in model.model_fields.items():
        key_path = [*path, name]
        annotation, _ = _strip(info.annotation)
        nested = _models_inside(annotation)
        direct = [m for suffix, m in nested if suffix == ""]
        if direct and len(nested) == 1:
            # A nested section; an optional one (``worker.mlflow: … | None``) gets its own row,
            # since its absence means something.
            if not info.is_required() and info.get_default(call_default_factory=True,
                                                           validated_data={}) is None:
                yield Row(key=".".join(key_path), type=f"{direct[0].__name__} | null",
                          default="null", env=_env(key_path, info.annotation) + "__<KEY>",
                          description=_description(model, name, info)
                          or (inspect.getdoc(direct[0]) or "").split("\n\n")[0])
            yield from _walk(direct[0], key_path, seen)
            continue
        yield Row(key=".".join(key_path), type=type_name(info.annotation) + _bounds(info.metadata),
                  default=_default(info), env=_env(key_path, info.annotation),
                  description=_description(model, name, info))
        for suffix, inner in nested:
            inner_path = list(key_path)
            for piece in re.findall(r"\.<key>|\[\]", suffix):
                if piece == "[]":
                    inner_path[-1] += "[]"
                else:
                    inner_path.append(f"<{_singular(name)}>")
            tag = _discriminator_value(inner)
            if tag is not None:
                inner_path[-1] = inner_path[-1].removesuffix("[]") + f"[type={tag}]"
            key = ".".join(inner_path)
            if inner in seen:
                yield Row(key=key, type=inner.__name__, default="", env="",
                          description=f"The keys of `{seen[inner]}`.")
                continue
            seen[inner] = key
            yield from _walk(inner, inner_path, seen)


def _singular(name: str) -> str:
    return {"models": "model_id", "signals": "signal"}.get(name, "name")


def _discriminator_value(model: type[BaseModel]) -> str | None:
    info = model.model_fields.get("type")
    if info is None:
        return None
    args = typing.get_args(_strip(info.annotation)[0])
    return str(args[0]) if len(args) == 1 else None


def reference_rows(service_models: Mapping[str, type[BaseModel]] | None = None) -> list[Row]:
    """Every key of every service, merged: a key read by several services appears once."""
    merged: dict[str, Row] = {}
    for service, model in (service_models or services()).items():
        for row in _walk(model, [], {}):
            if row.key in merged:
                merged[row.key].services.append(service)
            else:
                row.services.append(service)
                merged[row.key] = row
    return list(merged.values())


def _section_docs(service_models: Mapping[str, type[BaseModel]]) -> dict[str, str]:
    docs: dict[str, str] = {}
    for model in service_models.values():
        for name, info in model.model_fields.items():
            nested = [m for suffix, m in _models_inside(info.annotation) if suffix == ""]
            doc = _description(model, name, info) or (
                inspect.getdoc(nested[0]) if nested else "") or ""
            docs.setdefault(name, " ".join(doc.split()))
    return docs


def _cell(text: str) -> str:
    return text.replace("``", "`").replace("|", "\\|").replace("\n", " ")


def render(service_models: Mapping[str, type[BaseModel]] | None = None) -> str:
    """The Markdown reference."""
    models = service_models or services()
    rows = reference_rows(models)
    docs = _section_docs(models)
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m driftline.config_reference --write docs/configuration.md`"
        " from the pydantic models; do not edit by hand (tests/test_deploy.py fails when it is"
        " stale). -->",
        "",
        "Every key of `driftline.yaml`, by section. An environment variable overrides the file:"
        " `DRIFTLINE_<SECTION>__<KEY>` (nested keys joined by `__`; `<…>` parts are names you"
        " choose, such as a model id). Keys inside lists (`[]`) are set in the file only."
        " Kafka client properties contain dots; write them with underscores in the environment"
        " (`DRIFTLINE_KAFKA__SASL_MECHANISM` sets `kafka.sasl.mechanism`).",
        "",
        "Services: " + ", ".join(f"`{name}`" for name in models) + ".",
        "",
    ]
    sections: dict[str, list[Row]] = {}
    for row in rows:
        sections.setdefault(row.key.split(".")[0].split("[")[0], []).append(row)
    for section, section_rows in sections.items():
        readers = sorted({s for r in section_rows for s in r.services})
        out += [f"## `{section}`", "", f"Read by {', '.join(f'`{s}`' for s in readers)}.", ""]
        if docs.get(section):
            out += [docs[section], ""]
        out += ["| Key | Type | Default | Environment variable | Description |",
                "| --- | --- | --- | --- | --- |"]
        for r in section_rows:
            env = f"`{r.env}`" if r.env else "file only"
            default = f"`{_cell(r.default)}`" if r.default else ""
            out.append(f"| `{r.key}` | {_cell(r.type)} | {default} | {env} | "
                       f"{_cell(r.description) or '—'} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m driftline.config_reference",
                                     description=__doc__.split("\n")[0] if __doc__ else None)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, metavar="PATH", help="write the reference to PATH")
    group.add_argument("--check", type=Path, metavar="PATH",
                       help="exit 1 when PATH differs from the generated reference")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        args.write.write_text(text, encoding="utf-8")
        return 0
    if args.check:
        current = args.check.read_text(encoding="utf-8") if args.check.exists() else ""
        if current != text:
            print(f"{args.check} is stale: run python -m driftline.config_reference --write "
                  f"{args.check}", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
