"""The ``vision-contracts`` command line (also ``python -m vision_contracts.contracts``).

Subcommands: ``list`` (the operations with contracts), ``openapi`` (an OpenAPI 3.1 document built from them),
``validate`` (a saved response or request checked against its contract), ``check`` (HAR recordings re-validated
against the current contracts) and ``diff`` (two recordings of the same requests compared semantically). Exit
statuses: 0 valid (warnings are printed but do not fail), 1 at least one violation of severity error (``diff``: a
difference beyond the tolerances), 2 a usage error, told in one sentence on standard error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import xml.etree.ElementTree as ET  # builds JUnit XML; parses nothing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import catalog, lint_pack, load_pack
from ._contract import Contract
from ._drift import DriftReport, EntryDrift, Tolerances, compare_recordings, read_both
from ._har import Interaction, Judgement, RecordingError, judge, read_recordings
from ._images import ImageError, ImageInfo, open_image
from ._model import Report, Skip, Violation
from ._openapi import build
from ._pack import PackError

__all__ = ["main"]

PROG = "vision-contracts"
STDIN = "-"

DESCRIPTION = """\
Contracts of hosted computer-vision APIs: list them, print them as OpenAPI, validate saved responses and requests,
re-check HAR recordings (check) and compare two recordings for model drift (diff); lint contract packs (pack lint).
`--pack FILE` (repeatable) on list, openapi, validate, check and diff adds a contract pack's operations first.
Same command as `python -m vision_contracts.contracts`. `vision-contracts COMMAND --help` explains each command.

Exit status: 0 done (or valid), 1 a violation of severity error, 2 a usage error."""

VALIDATE_HELP = """\
Check a saved response body (the default) or request against its contract and print every violation with its JSON
path, check name, severity, expected and received values.

Responses: FILE is the JSON body exactly as the service answered it. --image gives the request image and enables
the checks that need it (mask size, boxes inside the image, Roboflow's image dimensions); --request gives the request
as sent instead (its image and its parameters, e.g. the threshold that score-threshold compares against). --status N
validates an error body against the contract's schema for status N. --tolerate NAME reports the violations of a check,
or of a named leniency of the contract (`vision-contracts list --format json` lists both), as warnings.

Requests (--kind request): FILE is JSON. An object with both "form" and "body" members is read as the
request envelope {form, path, query, headers, body} that the contract's request.json describes (the only way to
include the query, path and headers, e.g. Roboflow's api_key); any other object is the JSON body as sent (wire form
"json"); a JSON string is a raw text body (e.g. Roboflow's bare base64), read as the wire parser reads it.

FILE may be - for standard input.

Exit status: 0 when valid (warnings are printed but do not fail), 1 when any violation is an error, 2 on usage errors
(unknown provider or operation, an unreadable or non-JSON file, an option that does not apply).
"""


class UsageError(Exception):
    """A command line that cannot run: one sentence saying what was expected, what arrived and where."""


# --- parser --------------------------------------------------------------------------------------------------

def _providers() -> list[str]:
    return sorted({provider for provider, _ in catalog().operations})


def _add_packs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pack", action="append", default=[], metavar="FILE",
                        help="a contract pack (OpenAPI 3.1 with x-vision roles, JSON or YAML) whose operations to add (repeatable)")


def _load_packs(files: Sequence[str]) -> None:
    for file in files:
        try:
            load_pack(file)
        except PackError as exc:
            raise UsageError(f"--pack: {exc}") from None


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text", help="text for people (default), json for programs")


def _add_openapi(sub: Any) -> None:
    parser = sub.add_parser("openapi", help="print an OpenAPI 3.1 document built from the contracts")
    parser.add_argument("providers", nargs="+", metavar="PROVIDER", help="provider names: " + ", ".join(_providers()))
    parser.add_argument("--operation", action="append", help="only this operation (repeatable)")
    parser.add_argument("--server", default="http://127.0.0.1:8000", help="the servers[0].url to write")
    _add_packs(parser)
    parser.set_defaults(run=_run_openapi)


def _add_list(sub: Any) -> None:
    parser = sub.add_parser("list", help="list the (provider, operation) pairs; --format json adds checks, leniencies, statuses")
    _add_format(parser)
    _add_packs(parser)
    parser.set_defaults(run=_run_list)


def _add_validate(sub: Any) -> None:
    parser = sub.add_parser(
        "validate", help="check a saved response or request (JSON) against its contract",
        description=VALIDATE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("provider", metavar="PROVIDER", help="provider name: " + ", ".join(_providers()))
    parser.add_argument("operation", metavar="OPERATION", help="operation name (see `vision-contracts list`)")
    parser.add_argument("file", metavar="FILE", help="the JSON file to check, or - for standard input")
    parser.add_argument("--kind", choices=("response", "request"), default="response", help="what FILE holds (default: response)")
    given = parser.add_mutually_exclusive_group()
    given.add_argument("--image", metavar="PATH", help="responses: the request image, for the checks that need it")
    given.add_argument("--request", metavar="FILE", help="responses: the request as sent (JSON body or envelope), for its image and parameters")
    parser.add_argument("--status", type=int, metavar="N", help="responses: the HTTP status; an error status validates an error body")
    parser.add_argument("--tolerate", action="append", default=[], metavar="NAME", help="responses: a check or leniency to report as warnings (repeatable)")
    parser.add_argument("--strict", action="store_true",
                        help="hold FILE to the documented contract: what the real service accepts but the documents do "
                             "not list (unknown parameters, thresholds outside [0, 1]...) is an error, not a warning")
    _add_format(parser)
    _add_packs(parser)
    parser.set_defaults(run=_run_validate)


def parser() -> argparse.ArgumentParser:
    out = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = out.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_list(sub)
    _add_openapi(sub)
    _add_validate(sub)
    _add_check(sub)
    _add_diff(sub)
    _add_pack(sub)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        _load_packs(getattr(args, "pack", None) or [])
        return run(args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader left (`| head`): stop quietly, as the Python docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


# --- list and openapi ----------------------------------------------------------------------------------------

def _operation_json(contract: Contract) -> dict[str, Any]:
    index = contract.index
    return {
        "provider": contract.provider,
        "operation": contract.operation,
        "checks": list(index["checks"]),
        "request_checks": list(index["request_checks"]),
        "leniencies": {name: spec["description"] for name, spec in index.get("leniencies", {}).items()},
        "success_status": index["success"]["status"],
        "error_statuses": contract.error_statuses,
    }


def _run_list(args: argparse.Namespace) -> int:
    pairs = catalog().operations
    if args.format == "json":
        _print_json([_operation_json(catalog().get(p, o)) for p, o in pairs])
    else:
        for provider, operation in pairs:
            print(f"{provider} {operation}")
    return 0


def _run_openapi(args: argparse.Namespace) -> int:
    try:
        document = build(args.providers, operations=args.operation, server_url=args.server)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    _print_json(document)
    return 0


def _print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2)
    print()


# --- reading the inputs --------------------------------------------------------------------------------------

def _where(path: str) -> str:
    return "standard input" if path == STDIN else path


def _read_bytes(path: str, what: str) -> bytes:
    if path == STDIN:
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"expected {what} at {path}, but it cannot be read: {exc.strerror or exc}.") from None


def _read_json(path: str, what: str) -> Any:
    data = _read_bytes(path, what)
    where = _where(path)
    if not data.strip():
        raise UsageError(f"expected {what} in {where}, but it is empty.")
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"expected {what} (UTF-8 text) in {where}, but byte {exc.start} is {data[exc.start:exc.start + 1]!r}.") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"expected {what} in {where}, but it is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
    except RecursionError:
        raise UsageError(f"expected {what} in {where}, but it nests too deeply to parse.") from None


def _read_image(path: str) -> ImageInfo:
    data = _read_bytes(path, "an image file")
    try:
        im = open_image(data)
    except ImageError as exc:
        raise UsageError(f"--image {_where(path)}: {exc}.") from None
    return ImageInfo(im.size[0], im.size[1], im.mode, im.format)


def _read_request(path: str) -> Any:
    """A request file: an envelope or a JSON body (objects), or a raw text body (a JSON string)."""
    document = _read_json(path, "a JSON request (a body or an envelope)")
    if not isinstance(document, (dict, str)):
        raise UsageError(
            f"expected a JSON object (a request body, or an envelope with form and body) or a string (a raw text body)"
            f" in {_where(path)}, but it holds {_json_kind(document)}."
        )
    return document


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", bool: "a boolean", int: "a number", float: "a number", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


# --- validate ------------------------------------------------------------------------------------------------

def _contract(provider: str, operation: str) -> Contract:
    pairs = catalog().operations
    providers = sorted({p for p, _ in pairs})
    if provider not in providers:
        raise UsageError(f"expected a provider among {', '.join(providers)}, but PROVIDER is {provider!r}.")
    names = [o for p, o in pairs if p == provider]
    if operation not in names:
        raise UsageError(f"expected an operation of {provider} among {', '.join(names)}, but OPERATION is {operation!r}.")
    return catalog().get(provider, operation)


def _status(contract: Contract, status: int | None) -> int:
    success: int = contract.index["success"]["status"]
    if status is None or status == success:
        return success
    if status not in contract.error_statuses:
        known = ", ".join(str(s) for s in [success, *contract.error_statuses])
        raise UsageError(
            f"expected --status among {known} (the statuses {contract.provider} {contract.operation} is known to send),"
            f" but it is {status}."
        )
    return status


def _refuse_inapplicable(args: argparse.Namespace, contract: Contract, status: int) -> None:
    """Options that would be silently ignored are refused instead."""
    given = [name for name, value in (("--image", args.image), ("--request", args.request), ("--tolerate", args.tolerate)) if value]
    if args.kind == "request":
        given += ["--status"] if args.status is not None else []
        if given:
            raise UsageError(f"{_options(given)} only to responses, but --kind request was given (a request carries its own image and parameters).")
    elif given and status != contract.index["success"]["status"]:
        raise UsageError(f"{_options(given)} only to success bodies, but --status {status} asks for an error body.")


def _options(names: list[str]) -> str:
    return f"{' and '.join(names)} {'applies' if len(names) == 1 else 'apply'}"


def _tolerated(contract: Contract, names: list[str]) -> list[str]:
    try:
        contract.tolerated(names)
    except ValueError as exc:
        raise UsageError(f"--tolerate: {exc}") from None
    return names


def _response_request(args: argparse.Namespace) -> Any:
    if args.image:
        return _read_image(args.image)
    if args.request:
        return _read_request(args.request)
    return None


def _report(args: argparse.Namespace, contract: Contract, status: int) -> Report:
    if args.kind == "request":
        return contract.validate_request(_read_request(args.file), strict=args.strict)
    tolerate = _tolerated(contract, args.tolerate)
    request = _response_request(args)
    body = _read_json(args.file, "a JSON response body")
    return contract.validate_response(body, request=request, status=status, tolerate=tolerate, strict=args.strict)


def _run_validate(args: argparse.Namespace) -> int:
    contract = _contract(args.provider, args.operation)
    status = _status(contract, args.status)
    _refuse_inapplicable(args, contract, status)
    report = _report(args, contract, status)
    subject = _subject(args, contract, status)
    if args.format == "json":
        _print_json(report_json(report, subject))
    else:
        print(report_text(report, subject, hint=args.kind == "response" and not (args.image or args.request)))
    return 0 if report.ok else 1


# --- printing the verdict ------------------------------------------------------------------------------------

def _subject(args: argparse.Namespace, contract: Contract, status: int) -> dict[str, Any]:
    return {
        "file": _where(args.file), "provider": contract.provider, "operation": contract.operation,
        "kind": args.kind, "status": None if args.kind == "request" else status,
        "error_body": args.kind == "response" and status != contract.index["success"]["status"],
    }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _headline(report: Report, subject: dict[str, Any]) -> str:
    what = f"status {subject['status']} error body" if subject["error_body"] else subject["kind"]
    name = f"{subject['file']}: the {subject['provider']} {subject['operation']} {what}"
    counts = f"{_plural(len(report.errors), 'error')}, {_plural(len(report.warnings), 'warning')}"
    if report.ok:
        return f"{name} conforms to its contract" + (f" ({counts})." if report else ".")
    return f"{name} breaks its contract: {counts}."


def _violation_lines(v: Violation) -> list[str]:
    return [str(v), f"    expected: {v.expected}", f"    received: {v.received}"]


def _skip_line(s: Skip, hint: bool) -> str:
    advice = " (give --image or --request to run it)" if hint else ""
    return f"skipped {s.check}: {s.reason}{advice}"


def report_text(report: Report, subject: dict[str, Any], *, hint: bool = False) -> str:
    """The verdict for people: a headline, then each violation (path, message, check, severity, expected, received)
    and each skipped check."""
    lines = [_headline(report, subject)]
    for v in report:
        lines += _violation_lines(v)
    lines += [_skip_line(s, hint) for s in report.skipped]
    return "\n".join(lines)


def violation_json(v: Violation) -> dict[str, str]:
    """One violation for programs; ``message`` is the sentence without the path, which has its own member."""
    return {
        "path": v.path, "check": v.check, "severity": v.severity.value,
        "expected": v.expected, "received": v.received, "message": v.detail,
    }


def report_json(report: Report, subject: dict[str, Any]) -> dict[str, Any]:
    """The verdict for programs: ``valid`` (no error; warnings allowed), the subject, violations and skipped checks."""
    return {
        "valid": report.ok,
        **{k: v for k, v in subject.items() if k != "error_body"},
        "errors": len(report.errors),
        "warnings": len(report.warnings),
        "violations": [violation_json(v) for v in report],
        "skipped": [{"check": s.check, "reason": s.reason} for s in report.skipped],
    }


# --- check: recordings re-validated ---------------------------------------------------------------------------

CHECK_HELP = """\
Re-validate every interaction recorded in HAR files (vision-mock --record writes them) against the current contracts:
the request, and the response with its request (its image and parameters, so the semantic checks run). One line per
entry (its name, the verdict now, where it is), each violation below it with its side, JSON path, check and severity,
then a summary. An entry recorded as valid that breaks the contracts now is marked "drift".

--format junit writes JUnit XML (one testcase per entry) to --output or standard output.

Exit status: 0 when no entry has an error, 1 otherwise, 2 on usage errors (no such path, an unreadable HAR).
"""


def _add_check(sub: Any) -> None:
    parser = sub.add_parser("check", help="re-validate HAR recordings (a file or a folder) against the current contracts",
                            description=CHECK_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", metavar="PATH", help="a HAR file, or a folder searched for *.har")
    parser.add_argument("--format", choices=("text", "json", "junit"), default="text", help="text (default), json or junit")
    parser.add_argument("--output", metavar="FILE", help="write the report to FILE instead of standard output")
    _add_packs(parser)
    parser.set_defaults(run=_run_check)


def _recordings(path: str) -> list[Interaction]:
    try:
        found = read_recordings(path)
    except RecordingError as exc:
        raise UsageError(str(exc)) from None
    if not found:
        raise UsageError(f"expected HAR recordings (*.har) at {path}, but it holds none.")
    return found


def _judged(interactions: list[Interaction]) -> list[tuple[Interaction, Judgement | RecordingError]]:
    out: list[tuple[Interaction, Judgement | RecordingError]] = []
    for item in interactions:
        try:
            out.append((item, judge(item)))
        except RecordingError as exc:
            out.append((item, exc))
    return out


def _recorded_valid(item: Interaction) -> Any:
    verdict = item.vision.get("verdict")
    return verdict.get("valid") if isinstance(verdict, dict) else None


def _entry_lines(item: Interaction, outcome: Judgement | RecordingError) -> list[str]:
    if isinstance(outcome, RecordingError):
        return [f"{item.name}  error  {item.where}", f"    {outcome}"]
    verdict = "valid" if outcome.valid else "invalid"
    if outcome.valid is False and _recorded_valid(item) is True:
        verdict += " (drift: recorded as valid)"
    lines = [f"{item.name}  {verdict}  {item.where}"]
    lines += [f"    {side} {v.path} [{v.check}, {v.severity.value}]: {v.detail}" for side, v in outcome.violations]
    return lines


def _check_summary(judged: list[tuple[Interaction, Judgement | RecordingError]]) -> tuple[str, bool]:
    bad = [o for _, o in judged if isinstance(o, RecordingError) or not o.valid]
    warnings = sum(len([v for _, v in o.violations if v.severity.value == "warning"]) for _, o in judged if isinstance(o, Judgement))
    drift = sum(1 for i, o in judged if isinstance(o, Judgement) and not o.valid and _recorded_valid(i) is True)
    entries = f"{len(judged)} {'entry' if len(judged) == 1 else 'entries'}"
    text = (f"{entries}: "
            f"{len(judged) - len(bad)} valid, {len(bad)} invalid{f' ({drift} recorded as valid: drift)' if drift else ''}, "
            f"{_plural(warnings, 'warning')}.")
    return text, not bad


def _check_json(judged: list[tuple[Interaction, Judgement | RecordingError]]) -> dict[str, Any]:
    entries = []
    for item, outcome in judged:
        entry: dict[str, Any] = {"name": item.name, "where": item.where, "recorded_valid": _recorded_valid(item)}
        if isinstance(outcome, RecordingError):
            entry.update(valid=False, error=str(outcome), violations=[])
        else:
            entry.update(valid=outcome.valid, provider=outcome.provider, operation=outcome.operation, checks=outcome.checks,
                         violations=[{"side": side, **violation_json(v)} for side, v in outcome.violations])
        entries.append(entry)
    return {"valid": all(e["valid"] for e in entries), "entries": entries}


def _check_junit(judged: list[tuple[Interaction, Judgement | RecordingError]]) -> str:
    failures = [o for _, o in judged if isinstance(o, RecordingError) or not o.valid]
    suite = ET.Element("testsuite", name="vision-contracts check", tests=str(len(judged)), failures=str(len(failures)), errors="0")
    for item, outcome in judged:
        provider, _, rest = item.name.partition("/")
        case = ET.SubElement(suite, "testcase", classname=f"vision_contracts.{provider}", name=f"{rest or item.name} ({item.where})")
        if isinstance(outcome, RecordingError) or not outcome.valid:
            lines = _entry_lines(item, outcome)
            failure = ET.SubElement(case, "failure", message=lines[1].strip() if len(lines) > 1 else lines[0])
            failure.text = "\n".join(lines)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def _emit(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        Path(output).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"expected to write the report to {output}, but it cannot be written: {exc.strerror or exc}.") from None


def _run_check(args: argparse.Namespace) -> int:
    judged = _judged(_recordings(args.path))
    summary, ok = _check_summary(judged)
    if args.format == "json":
        _emit(json.dumps(_check_json(judged), indent=2), args.output)
    elif args.format == "junit":
        _emit(_check_junit(judged), args.output)
    else:
        _emit("\n".join([line for item, outcome in judged for line in _entry_lines(item, outcome)] + [summary]), args.output)
    return 0 if ok else 1


# --- diff: two recordings compared ----------------------------------------------------------------------------

DIFF_HELP = """\
Compare two recordings of the same requests (A, then B: HAR files or folders) semantically, to tell whether the
provider's model changed even when every answer still meets the contract. Entries are paired by their replay key
(operation, model, parameters and the image's pixels). For each pair: the status, the label sets, segments matched
by mask IoU (Roboflow's class map split per class), boxes matched by box IoU, and the scores of matched objects.

Exit status: 0 when every difference is within the tolerances, 1 otherwise, 2 on usage errors.
"""


def _add_diff(sub: Any) -> None:
    parser = sub.add_parser("diff", help="compare two recordings of the same requests (segments, boxes, labels, scores)",
                            description=DIFF_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", metavar="A", help="the reference recording (a HAR file or a folder)")
    parser.add_argument("b", metavar="B", help="the recording to compare with it")
    parser.add_argument("--min-iou", type=float, default=Tolerances.min_iou, help="lowest IoU of a matched segment or box (default 0.9)")
    parser.add_argument("--max-score-delta", type=float, default=Tolerances.max_score_delta, help="largest score change of a matched object (default 0.05)")
    parser.add_argument("--max-count-delta", type=int, default=Tolerances.max_count_delta, help="objects that may appear or disappear per answer (default 0)")
    parser.add_argument("--ignore-labels", action="store_true", help="report label changes without failing")
    _add_format(parser)
    _add_packs(parser)
    parser.set_defaults(run=_run_diff)


def _tolerances(args: argparse.Namespace) -> Tolerances:
    if not 0 <= args.min_iou <= 1:
        raise UsageError(f"expected --min-iou between 0 and 1, but it is {args.min_iou}.")
    if args.max_score_delta < 0 or args.max_count_delta < 0:
        raise UsageError("expected --max-score-delta and --max-count-delta of 0 or more, but one is negative.")
    return Tolerances(args.min_iou, args.max_score_delta, args.max_count_delta, args.ignore_labels)


def _drift_lines(entry: EntryDrift) -> list[str]:
    lines = [f"{entry.name}  {'changed' if entry.changed else 'same'}  {entry.where_a} | {entry.where_b}"]
    lines += [f"    {d}" for d in entry.differences]
    lines += [f"    (within tolerance) {n}" for n in entry.notes]
    return lines


def _drift_summary(report: DriftReport) -> str:
    return f"{_plural(len(report.entries), 'pair')} compared: {len(report.changed)} changed beyond the tolerances."


def _run_diff(args: argparse.Namespace) -> int:
    tolerances = _tolerances(args)
    try:
        a, b = read_both(read_recordings, args.a, args.b)
    except RecordingError as exc:
        raise UsageError(str(exc)) from None
    report = compare_recordings(a, b, tolerances)
    if args.format == "json":
        _print_json({"same": report.ok, "entries": [
            {"name": e.name, "a": e.where_a, "b": e.where_b, "changed": e.changed, "differences": e.differences, "notes": e.notes}
            for e in report.entries]})
    else:
        print("\n".join([line for e in report.entries for line in _drift_lines(e)] + [_drift_summary(report)]))
    return 0 if report.ok else 1


# --- pack lint -----------------------------------------------------------------------------------------------

PACK_LINT_HELP = """\
Check a contract pack (an OpenAPI 3.1 document, JSON or YAML, whose schema nodes carry x-vision roles) and print one
sentence per problem with its JSON path: a role on a node of the wrong type, a box on an object without its 4 keys,
an operation without an image role, an unknown role or option (with the nearest known name), a task outside
object-detection, instance-segmentation, semantic-segmentation and image-classification, item roles without an
items array, references that lead nowhere.

Exit status: 0 when the pack is clean, 1 when it has findings, 2 when it cannot be read (missing, not JSON/YAML).
"""


def _add_pack(sub: Any) -> None:
    parser = sub.add_parser("pack", help="work with contract packs (pack lint FILE)")
    pack_sub = parser.add_subparsers(dest="pack_command", required=True, metavar="PACK_COMMAND")
    lint = pack_sub.add_parser("lint", help="check a contract pack and print its problems with their JSON paths",
                               description=PACK_LINT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    lint.add_argument("file", metavar="FILE", help="the pack (OpenAPI 3.1 JSON or YAML)")
    _add_format(lint)
    lint.set_defaults(run=_run_pack_lint)


def _run_pack_lint(args: argparse.Namespace) -> int:
    try:
        findings = lint_pack(args.file)
    except PackError as exc:
        raise UsageError(str(exc)) from None
    if args.format == "json":
        _print_json({"file": args.file, "clean": not findings, "findings": [{"path": f.path, "message": f.message} for f in findings]})
    else:
        lines = [f"{args.file}: {f}" for f in findings]
        lines.append(f"{args.file}: {_plural(len(findings), 'finding')}." if findings else f"{args.file}: clean.")
        print("\n".join(lines))
    return 1 if findings else 0
