"""The gateway's message catalogue: extract every text an API client can be shown, and keep the .po files in step.

    python scripts/messages.py            # merge the texts the code writes into every gateway/locales/*/.../messages.po
    python scripts/messages.py --add fr   # ... and start a catalogue for French
    python scripts/messages.py --check    # fail if a text the code writes lacks a translation in some language

The texts are English, written by the services, kit and the gateway where errors are raised, so they are found
where they are written (Python's ast; nothing is imported or run):
- the message of an error (`NotFound("chore not found")`, `invalid(field, message)`, `FieldViolation(f, message)`,
  `errors.add(field, message)`, `raise_if_any(message)`, `PydanticCustomError(type, message)`);
- the detail of a problem the gateway writes (`problem(status, code, detail)`);
- constants named `*MESSAGE`, local variables passed as one of the above, and what functions named
  `*_message`, `*_violation` or `_refusal` return;
- texts marked for the catalogue (`N_("...")`, `NC_("title", "...")`: the gateway's own tables).
An f-string becomes one parameterised msgid: `f"must be at most {max_length} characters"` →
`must be at most %(max_length)s characters`, each value named after what it reads (`{data.kind!r}` → `kind`).
Strings made only of values and punctuation (`f"{field}: {message}"`) are how texts are joined, not texts.

New msgids arrive in each .po untranslated (English: the msgid itself) and `gateway/tests/test_i18n.py` fails
until someone translates them; msgids no code writes any more are dropped.
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("kit", "services", "gateway")
LOCALES = ROOT / "gateway" / "locales"
SOURCE_LANGUAGE = "en"

# Callables whose argument at this position (or keyword) is a message.
ERROR_CLASSES = (
    "HearthError",
    "InvalidArgument",
    "Unauthenticated",
    "MfaRequired",
    "PermissionDenied",
    "ReauthenticationRequired",
    "NotFound",
    "AlreadyExists",
    "Conflict",
    "PreconditionFailed",
    "Gone",
    "NotDueYet",
    "PayloadTooLarge",
    "UnsupportedMediaType",
    "NotReady",
    "RateLimited",
    "Unavailable",
    "Timeout",
    "Internal",
    # services.notify.ssrf: why a webhook URL is refused (a field violation on `url`)
    "Refused",
)
SINKS: dict[str, tuple[int, str]] = {
    **{name: (0, "message") for name in ERROR_CLASSES},
    "invalid": (1, "message"),
    "FieldViolation": (1, "message"),
    "PydanticCustomError": (1, "message_template"),
    "problem": (2, "detail"),
    "problem_body": (2, "detail"),
    "raise_if_any": (0, "message"),
}
# `.add(field, message)` on these receivers (kit.validation.Violations).
VIOLATION_RECEIVERS = ("errors", "violations", "self")
MESSAGE_FUNCTIONS = ("_message", "_violation", "_refusal")


@dataclass(frozen=True, order=True)
class Found:
    context: str | None
    msgid: str
    path: str


def _value_name(node: ast.expr) -> str:
    """A placeholder's name: what the formatted expression reads (`max_length`, `data.kind` → `kind`)."""
    if isinstance(node, ast.Name):
        return node.id.lower().lstrip("_")
    if isinstance(node, ast.Attribute):
        return node.attr.lower().lstrip("_")
    if isinstance(node, ast.Subscript):
        if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            return node.slice.value.lower()
        return _value_name(node.value)
    if isinstance(node, ast.Call):
        # `earliest.astimezone(UTC).isoformat()` → earliest (the receiver); `', '.join(sorted(self._audiences))` →
        # audiences (the argument, when the receiver is a literal)
        if isinstance(node.func, ast.Attribute) and not isinstance(node.func.value, ast.Constant):
            return _value_name(node.func.value)
        for arg in node.args:
            if not isinstance(arg, ast.Constant):
                return _value_name(arg)
    return "value"


def template(node: ast.expr) -> str | None:
    """The msgid a string expression writes: a literal as it is, an f-string with `%(name)s` placeholders."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if not isinstance(node, ast.JoinedStr):
        return None
    parts: list[str] = []
    names: list[str] = []
    for value in node.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            parts.append(value.value.replace("%", "%%"))
        elif isinstance(value, ast.FormattedValue):
            name = _value_name(value.value)
            if name in names:
                name = f"{name}_{names.count(name) + 1}"
            names.append(name)
            parts.append(f"%({name})s")
    return "".join(parts)


def _is_text(msgid: str) -> bool:
    """Whether a msgid holds words (not only values joined by punctuation)."""
    literal = msgid
    while "%(" in literal:
        start = literal.index("%(")
        end = literal.index(")s", start) + 2
        literal = literal[:start] + literal[end:]
    return any(char.isalpha() for char in literal)


def _branches(node: ast.expr) -> Iterator[ast.expr]:
    if isinstance(node, ast.IfExp):
        yield from _branches(node.body)
        yield from _branches(node.orelse)
    else:
        yield node


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    if len(call.args) > position and not any(isinstance(a, ast.Starred) for a in call.args[: position + 1]):
        return call.args[position]
    for given in call.keywords:
        if given.arg == keyword:
            return given.value
    return None


def _call_name(call: ast.Call) -> str:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return ""


def _sink_argument(node: ast.Call, sinks: dict[str, tuple[int, str]]) -> ast.expr | None:
    """The message argument of a call that takes one (`sinks`, `errors.add(field, message)`), else None."""
    name = _call_name(node)
    if name in sinks:
        return _argument(node, *sinks[name])
    if (
        name == "add"
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in VIOLATION_RECEIVERS
        and len(node.args) == 2
    ):
        return node.args[1]
    return None


def _passing_on(tree: ast.Module, sinks: dict[str, tuple[int, str]]) -> dict[str, tuple[int, str]]:
    """Functions that pass one of their parameters on as a message (`def _refuse(..., detail): problem(429,
    code, detail)`): their callers' argument is a message too."""
    found: dict[str, tuple[int, str]] = {}
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) or function.name in sinks:
            continue
        params = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
        if params[:1] in (["self"], ["cls"]):
            params = params[1:]
        keywords = [a.arg for a in function.args.kwonlyargs]
        for node in ast.walk(function):
            if isinstance(node, ast.Call):
                argument = _sink_argument(node, sinks)
                if isinstance(argument, ast.Name) and argument.id in params:
                    found[function.name] = (params.index(argument.id), argument.id)
                elif isinstance(argument, ast.Name) and argument.id in keywords:
                    found[function.name] = (10_000, argument.id)
    return found


def _messages_in(tree: ast.Module, sinks: dict[str, tuple[int, str]]) -> Iterator[tuple[str | None, ast.expr]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name == "N_" and node.args:
                yield None, node.args[0]
            elif name == "NC_" and len(node.args) == 2:
                context = node.args[0]
                if isinstance(context, ast.Constant) and isinstance(context.value, str):
                    yield context.value, node.args[1]
            else:
                found = _sink_argument(node, sinks)
                if found is not None:
                    yield None, found
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is not None and any(isinstance(t, ast.Name) and t.id.endswith("MESSAGE") for t in targets):
                yield None, node.value
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name.endswith(MESSAGE_FUNCTIONS):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Return) and inner.value is not None:
                        yield None, inner.value
            yield from ((None, value) for value in _variables_raised(node, sinks))


def _variables_raised(
    function: ast.FunctionDef | ast.AsyncFunctionDef, sinks: dict[str, tuple[int, str]]
) -> Iterator[ast.expr]:
    """What a function writes into a local variable that it then passes as a message
    (`detail = f"..."; problem(409, code, detail)`)."""
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            found = _sink_argument(node, sinks)
            if isinstance(found, ast.Name):
                names.add(found.id)
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in names for t in node.targets):
            yield node.value


def _sources(root: Path) -> list[tuple[str, ast.Module]]:
    trees = []
    for top in SOURCES:
        for path in sorted((root / top).rglob("*.py")):
            relative = path.relative_to(root)
            if "tests" in relative.parts or "migrations" in relative.parts:
                continue
            trees.append((relative.as_posix(), ast.parse(path.read_text(), filename=str(relative))))
    return trees


def extract(root: Path = ROOT) -> list[Found]:
    """Every (context, msgid) the code writes, with the file it is written in."""
    trees = _sources(root)
    sinks = dict(SINKS)
    while True:  # until no function newly passes a message on
        derived = {name: where for _, tree in trees for name, where in _passing_on(tree, sinks).items()}
        if derived.keys() <= sinks.keys():
            break
        sinks |= derived
    found: set[Found] = set()
    for relative, tree in trees:
        for context, node in _messages_in(tree, sinks):
            for branch in _branches(node):
                msgid = template(branch)
                if msgid and _is_text(msgid):
                    found.add(Found(context, msgid, relative))
    return sorted(found, key=lambda f: (f.context or "", f.msgid, f.path))


# A fixed header date: a .po file changes only when its messages do.
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def template_catalog(root: Path = ROOT) -> Catalog:
    """The catalogue template (a .pot, kept in memory: it is derived from the code, so never stale)."""
    catalog = Catalog(project="Hearth gateway", version="1", creation_date=_EPOCH, fuzzy=False)
    for item in extract(root):
        flags = ("python-format",) if "%(" in item.msgid else ()
        existing = catalog.get(item.msgid, context=item.context)
        if existing is not None:
            existing.locations = sorted({*existing.locations, (item.path, 0)})
        else:
            catalog.add(item.msgid, context=item.context, locations=[(item.path, 0)], flags=flags)
    return catalog


def render(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, sort_output=True, include_lineno=False, ignore_obsolete=True, width=120)
    return out.getvalue()


def po_files() -> list[Path]:
    return sorted(LOCALES.glob("*/LC_MESSAGES/messages.po"))


def read(path: Path) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=path.parent.parent.name)


def update(languages: Iterable[str] = ()) -> None:
    """Merge the code's msgids into every .po (and start a catalogue for each new language in `languages`)."""
    template = template_catalog()
    for language in languages:
        path = LOCALES / language / "LC_MESSAGES" / "messages.po"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(render(Catalog(locale=language, project="Hearth gateway", creation_date=_EPOCH)))
    for path in po_files():
        catalog = read(path)
        # No fuzzy guesses: a new message is untranslated until a person translates it.
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        if path.parent.parent.name == SOURCE_LANGUAGE:
            for message in catalog:
                if message.id and not message.string:
                    message.string = message.id
        catalog.creation_date = catalog.revision_date = _EPOCH
        catalog.fuzzy = False
        path.write_bytes(render(catalog))


@dataclass(frozen=True)
class Report:
    # (file, context, msgid) the code writes and the file does not translate (absent, empty or fuzzy)
    untranslated: list[tuple[str, str | None, str]]
    # (file, context, msgid) the file holds and no code writes any more (dropped by the next update)
    unused: list[tuple[str, str | None, str]]


def check() -> Report:
    wanted = {(m.context, str(m.id)) for m in template_catalog() if m.id}
    untranslated: list[tuple[str, str | None, str]] = []
    unused: list[tuple[str, str | None, str]] = []
    for path in po_files():
        name = str(path.relative_to(ROOT))
        translated = {(m.context, str(m.id)) for m in read(path) if m.id and m.string and not m.fuzzy}
        held = {(m.context, str(m.id)) for m in read(path) if m.id}
        untranslated += [(name, c, m) for c, m in sorted(wanted - translated, key=str)]
        unused += [(name, c, m) for c, m in sorted(held - wanted, key=str)]
    return Report(untranslated, unused)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if a text the code writes is not translated")
    parser.add_argument("--add", metavar="LANG", action="append", default=[], help="start a catalogue for LANG")
    args = parser.parse_args()
    if args.check:
        report = check()
        for path, context, msgid in report.untranslated:
            print(f"{path}: untranslated {msgid!r}" + (f" (context {context})" if context else ""), file=sys.stderr)
        for path, _context, msgid in report.unused:
            print(f"{path}: no code writes {msgid!r} any more (the next update drops it)", file=sys.stderr)
        return 1 if report.untranslated else 0
    update(args.add)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
