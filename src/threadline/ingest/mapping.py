"""The column mapping: which file holds which record type and which column is which canonical field.

An analyst can write one (the YAML contract in the README) or let Threadline match headers by name in many
languages; either way the mapping used is saved with the seizure, printed, and can be edited and passed back."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from threadline.core.errors import InputError
from threadline.core.geo import country_code
from threadline.ingest.columns import guess_record_type, match_columns
from threadline.model import CANONICAL_FIELDS, RECORD_TYPES

_RULE_KEYS = ("record_type", "encoding", "delimiter", "default_country", "columns")


@dataclass
class FileRule:
    pattern: str
    line: int
    record_type: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    default_country: str | None = None
    columns: dict[str, list[str]] = field(default_factory=dict)
    column_lines: dict[str, int] = field(default_factory=dict)

    def matches(self, path: str, table: str | None) -> bool:
        names = [path, path.split("!")[-1], PurePosixPath(path.split("!")[-1]).name]
        if table is not None:
            names = [f"{n}#{table}" for n in names] + names
        return any(fnmatch.fnmatchcase(n, self.pattern) for n in names)


@dataclass
class Mapping:
    source: Path | None = None
    rules: list[FileRule] = field(default_factory=list)

    def rule_for(self, path: str, table: str | None = None) -> FileRule | None:
        # A rule naming the sheet wins over one naming only the file.
        if table is not None:
            for rule in self.rules:
                if "#" in rule.pattern and rule.matches(path, table):
                    return rule
        for rule in self.rules:
            if "#" not in rule.pattern and rule.matches(path, None):
                return rule
        return None


def load_mapping(path: Path) -> Mapping:
    """Read and check a mapping file; every problem names the mapping file and line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("mapping file not found", file=path) from None
    except UnicodeDecodeError:
        raise InputError("mapping file is not UTF-8 text", file=path) from None
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(
            f"mapping is not valid YAML ({getattr(exc, 'problem', None) or exc}): fix the syntax",
            file=path,
            line=mark.line + 1 if mark else None,
        ) from None
    finally:
        loader.dispose()
    mapping = Mapping(source=path)
    if root is None:
        return mapping
    if not isinstance(root, yaml.MappingNode):
        raise InputError("mapping must start with 'files:'", file=path, line=root.start_mark.line + 1)
    files_node = next((v for k, v in root.value if k.value == "files"), None)
    if files_node is None:
        raise InputError("mapping must start with 'files:'", file=path, line=1)
    if not isinstance(files_node, yaml.MappingNode):
        raise InputError("'files' must map file patterns to rules", file=path, line=files_node.start_mark.line + 1)
    for key_node, rule_node in files_node.value:
        mapping.rules.append(_rule(path, key_node, rule_node))
    return mapping


def _rule(path: Path, key_node: yaml.Node, node: yaml.Node) -> FileRule:
    line = key_node.start_mark.line + 1
    rule = FileRule(pattern=str(key_node.value), line=line)
    if not isinstance(node, yaml.MappingNode):
        raise InputError(f"the rule for {rule.pattern!r} must be a mapping", file=path, line=line)
    for k, v in node.value:
        key = str(k.value)
        at = k.start_mark.line + 1
        if key not in _RULE_KEYS:
            raise InputError(f"unknown key {key!r}: use {', '.join(_RULE_KEYS)}", file=path, line=at)
        if key == "columns":
            if not isinstance(v, yaml.MappingNode):
                raise InputError("'columns' must map canonical fields to columns", file=path, line=at)
            for fk, fv in v.value:
                name = str(fk.value)
                fline = fk.start_mark.line + 1
                if name not in CANONICAL_FIELDS:
                    raise InputError(
                        f"unknown field {name!r}: use one of {', '.join(CANONICAL_FIELDS)}", file=path, line=fline
                    )
                if isinstance(fv, yaml.SequenceNode):
                    columns = [str(c.value) for c in fv.value]
                elif isinstance(fv, yaml.ScalarNode) and str(fv.value).strip():
                    columns = [str(fv.value)]
                else:
                    raise InputError(f"field {name!r} needs a column name or a list of them", file=path, line=fline)
                rule.columns[name] = columns
                rule.column_lines[name] = fline
            continue
        if not isinstance(v, yaml.ScalarNode):
            raise InputError(f"{key!r} must be a single value", file=path, line=at)
        value = str(v.value)
        if key == "record_type":
            if value not in RECORD_TYPES:
                raise InputError(f"unknown record_type {value!r}: use {', '.join(RECORD_TYPES)}", file=path, line=at)
            rule.record_type = value
        elif key == "delimiter":
            value = {"\\t": "\t", "tab": "\t"}.get(value, value)
            if len(value) != 1:
                raise InputError(f"delimiter must be one character, not {value!r}", file=path, line=at)
            rule.delimiter = value
        elif key == "encoding":
            rule.encoding = value
        elif key == "default_country":
            code = country_code(value)
            if code is None:
                raise InputError(f"unknown country {value!r}", file=path, line=at)
            rule.default_country = code
    return rule


@dataclass
class ColumnPlan:
    """How one table's columns become canonical fields."""

    record_type: str
    fields: dict[str, list[str]]
    unmapped: list[str]
    default_country: str | None = None
    source: str = "matched by name"

    def to_rule(self, encoding: str | None, delimiter: str | None) -> dict[str, Any]:
        rule: dict[str, Any] = {"record_type": self.record_type}
        if encoding:
            rule["encoding"] = encoding
        if delimiter:
            rule["delimiter"] = delimiter
        if self.default_country:
            rule["default_country"] = self.default_country
        rule["columns"] = {f: (cols[0] if len(cols) == 1 else cols) for f, cols in self.fields.items()}
        return rule


def plan_columns(mapping: Mapping, file_path: str, table: str | None, headers: list[str]) -> ColumnPlan:
    """The plan for a table: from the mapping file if a rule matches, else by header names."""
    rule = mapping.rule_for(file_path, table)
    if rule is not None and rule.columns:
        present = set(headers)
        for name, columns in rule.columns.items():
            for column in columns:
                if column not in present:
                    raise InputError(
                        f"column {column!r} (for {name}) is not in {file_path}"
                        f"{'#' + table if table else ''}; its columns are: {', '.join(headers)[:300]}",
                        file=mapping.source,
                        line=rule.column_lines.get(name, rule.line),
                    )
        used = {c for cols in rule.columns.values() for c in cols}
        return ColumnPlan(
            record_type=rule.record_type or guess_record_type(headers, file_path),
            fields={k: list(v) for k, v in rule.columns.items()},
            unmapped=[h for h in headers if h not in used],
            default_country=rule.default_country,
            source=f"mapping {mapping.source.name if mapping.source else ''} line {rule.line}",
        )
    record_type = rule.record_type if rule and rule.record_type else guess_record_type(headers, file_path)
    matched = match_columns(headers, record_type)
    return ColumnPlan(
        record_type=record_type,
        fields={k: list(v) for k, v in matched.fields.items()},
        unmapped=list(matched.unmapped),
        default_country=rule.default_country if rule else None,
    )


def mapping_yaml(saved: dict[str, Any]) -> str:
    return yaml.safe_dump({"files": saved}, allow_unicode=True, sort_keys=False, width=120)
