#!/usr/bin/env python3
"""Structured output (#19) over ovserve's OpenAI-compatible HTTP API, checked by independent validators.

One `ovserve serve` for the whole module (the fixture checkpoint tiny-llava-ov when present: random
weights over the real 151k-token Qwen2 vocabulary; else the generated demo model). The weights are
random, so without the token masks the output is garbage: every output that validates shows the masks
held at every step. Checked here:

  * JSON Schemas (response_format json_schema, guided_json as object and as JSON text,
    structured_outputs.json), 3 seeds each at temperature 1: a finished output ("stop") must pass
    python3-jsonschema's Draft 2020-12 validator plus our own RFC 3339 / email / uuid / uri checks;
    a cut one ("length") must start like the schema's documents; most must finish.
  * response_format json_object / structured_outputs.json_object: a JSON object.
  * guided_regex / structured_outputs.regex: Python's re.fullmatch.
  * guided_choice / structured_outputs.choice: exactly one choice (shared prefixes, non-ASCII).
  * guided_grammar (GBNF): arithmetic expressions parsed back by a recursive-descent parser; a
    comma-separated list of lowercase words.
  * /v1/completions with guided_choice, n=2 with a schema, streaming (SSE deltas concatenated).
  * 400s: unsupported schema keyword, bad regex, left-recursive grammar, two constraints at once;
    the server still serves constrained requests afterwards.

Run by ctest (tests/server/CMakeLists.txt) with OVSERVE_BIN set; standalone:
  OVSERVE_BIN=build/server/ovserve python3 tests/server/structured_output_http_test.py
Exits 77 (skipped) when python3-jsonschema is missing, unless CI=true. OVSERVE_TEST_VERBOSE=1 prints
every JSON output.
"""

import concurrent.futures
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid

_CI = os.environ.get("CI", "") in ("true", "1")
try:
    import jsonschema
except ImportError:
    if _CI:
        print("FAIL: python3-jsonschema is required under CI (apt-get install python3-jsonschema)")
        sys.exit(1)
    print("SKIP: python3-jsonschema is not installed (apt-get install python3-jsonschema)")
    sys.exit(77)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------

_server = None  # subprocess.Popen
_work = None  # temporary folder (log, demo checkpoint)
_log_path = None
_http_port = None
_model_desc = None
# kind -> {"validated": n, "stopped": n, "length": n, "total": n}
_summary = {}
_summary_lock = threading.Lock()


def _count(kind, key):
    with _summary_lock:
        entry = _summary.setdefault(kind, {"validated": 0, "stopped": 0, "length": 0, "total": 0})
        entry[key] += 1


def _fixtures_root():
    for var in ("OVSERVE_FIXTURES", "OVSERVE_DEFAULT_FIXTURES"):
        value = os.environ.get(var, "")
        if value:
            return value
    return os.path.join(REPO, "..", "shared", "fixtures")


def _server_log():
    if _log_path is None or not os.path.exists(_log_path):
        return "(no server log)"
    with open(_log_path, "r", encoding="utf-8", errors="replace") as f:
        return f.read()


def setUpModule():
    global _server, _work, _log_path, _http_port, _model_desc
    binary = os.environ.get("OVSERVE_BIN", "")
    if not binary:
        candidate = os.path.join(REPO, "build", "server", "ovserve")
        binary = candidate if os.path.exists(candidate) else ""
    if not binary or not os.path.exists(binary):
        raise RuntimeError("OVSERVE_BIN must name the ovserve binary (got %r)" % binary)
    _work = tempfile.mkdtemp(prefix="ovserve-structured-")
    _log_path = os.path.join(_work, "server.log")
    model = os.path.join(_fixtures_root(), "tiny-llava-ov")
    if os.path.exists(os.path.join(model, "config.json")):
        model_args = ["--model", model]
        _model_desc = model
    else:
        model_args = ["--demo-dir", os.path.join(_work, "demo-tiny")]
        _model_desc = "demo checkpoint (fixture %s not found)" % model
    args = [binary, "serve", "--host", "127.0.0.1", "--port", "0", "--http-port", "0",
            "--metrics-port", "0", "--threads", "2", "--kv-cache-bytes", "67108864",
            "--drain-timeout-ms", "2000"] + model_args
    log = open(_log_path, "wb")
    _server = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.time() + 120
    pattern = re.compile(r"HTTP \(OpenAI API\) on port (\d+), metrics on port (\d+)")
    while True:
        text = _server_log()
        ports = pattern.search(text)
        if ports and "serving " in text:
            _http_port = int(ports.group(1))
            break
        if _server.poll() is not None:
            raise RuntimeError("ovserve exited with %s before serving:\n%s" % (_server.returncode, text))
        if time.time() > deadline:
            raise RuntimeError("ovserve did not start within 120 s:\n" + text)
        time.sleep(0.1)
    print("ovserve serving %s on HTTP port %d" % (_model_desc, _http_port), file=sys.stderr)


def tearDownModule():
    global _server
    if _server is not None and _server.poll() is None:
        _server.terminate()
        try:
            _server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _server.kill()
            _server.wait()
    _server = None
    print("\nstructured output summary (%s):" % _model_desc, file=sys.stderr)
    for kind in sorted(_summary):
        e = _summary[kind]
        print("  %-28s %3d validated of %3d (stop %d, length %d)"
              % (kind, e["validated"], e["total"], e["stopped"], e["length"]), file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# HTTP helpers
# ---------------------------------------------------------------------------------------------

def _post(path, body, timeout=120):
    """POSTs JSON; returns (status, parsed body)."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (_http_port, path),
                                 data=json.dumps(body).encode("utf-8"),
                                 headers={"content-type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        raw = e.read().decode("utf-8", errors="replace")
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"raw": raw}


def _post_stream(path, body, timeout=120):
    """POSTs a streaming request; returns (status, [parsed SSE data events])."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (_http_port, path),
                                 data=json.dumps(body).encode("utf-8"),
                                 headers={"content-type": "application/json"}, method="POST")
    events = []
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        status = resp.status
        buffer = b""
        done = False
        while not done:
            chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                for line in event.decode("utf-8").splitlines():
                    if not line.startswith("data:"):
                        continue
                    data = line[len("data:"):].strip()
                    if data == "[DONE]":
                        done = True
                    else:
                        events.append(json.loads(data))
    return status, events


def _chat(extra, prompt="Reply as asked.", max_tokens=300, seed=0):
    body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "temperature": 1.0, "seed": seed}
    body.update(extra)
    return _post("/v1/chat/completions", body)


def _describe(resp):
    return json.dumps(resp, ensure_ascii=False)[:3000]


# ---------------------------------------------------------------------------------------------
# Format checkers (RFC 3339, RFC 5321 dot-atom email, RFC 4122 text, RFC 3986 URI)
# ---------------------------------------------------------------------------------------------

_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_TIME_RE = re.compile(r"(\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))", re.ASCII)
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL_RE = re.compile(r"%s+(?:\.%s+)*@%s(?:\.%s)*" % (_ATEXT, _ATEXT, _LABEL, _LABEL), re.ASCII)
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# RFC 3986 URI: scheme ":" hier-part [ "?" query ] [ "#" fragment ] (IP literals left out).
_UNRES = r"[A-Za-z0-9\-._~!$&'()*+,;=]"
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = r"(?:%s|%s|[:@])" % (_UNRES, _PCT)
_URI_RE = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:"
    r"(?://(?:(?:%s|%s|:)*@)?(?:%s|%s)*(?::\d*)?(?:/%s*)*"  # "//" authority path-abempty
    r"|/(?:%s+(?:/%s*)*)?"  # path-absolute
    r"|%s+(?:/%s*)*"  # path-rootless
    r"|)"  # path-empty
    r"(?:\?(?:%s|[/?])*)?(?:#(?:%s|[/?])*)?"
    % (_UNRES, _PCT, _UNRES, _PCT, _PCHAR, _PCHAR, _PCHAR, _PCHAR, _PCHAR, _PCHAR, _PCHAR), re.ASCII)


def _valid_date(s):
    m = _DATE_RE.fullmatch(s)
    if not m:
        return False
    year, month, day = (int(g) for g in m.groups())
    if year == 0:  # RFC 3339 allows year 0000 (a leap year); Python's datetime starts at 1
        return 1 <= month <= 12 and 1 <= day <= (29 if month == 2 else 31) and \
            (month, day) not in ((4, 31), (6, 31), (9, 31), (11, 31))
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def _valid_time(s):
    m = _TIME_RE.fullmatch(s)
    if not m:
        return False
    hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if hour > 23 or minute > 59 or second > 60:  # 60: a leap second
        return False
    if m.group(6) is not None and (int(m.group(6)) > 23 or int(m.group(7)) > 59):
        return False
    return True


def _valid_date_time(s):
    parts = re.split(r"[Tt]", s, maxsplit=1)
    return len(parts) == 2 and _valid_date(parts[0]) and _valid_time(parts[1])


def _valid_email(s):
    if not _EMAIL_RE.fullmatch(s):
        return False
    local, domain = s.rsplit("@", 1)
    return len(local) <= 64 and len(domain) <= 253


def _valid_uuid(s):
    if not _UUID_RE.fullmatch(s):
        return False
    uuid.UUID(s)
    return True


def _valid_uri(s):
    return _URI_RE.fullmatch(s) is not None


_OWN_FORMATS = {"date": _valid_date, "time": _valid_time, "date-time": _valid_date_time,
                "email": _valid_email, "uuid": _valid_uuid, "uri": _valid_uri}


def _format_checker():
    """jsonschema's FormatChecker, with our checks added: a format passes only when both agree.

    Debian's python3-jsonschema lacks the optional rfc3339 packages: it has no 'date-time' and its
    'time' is draft 3's (no offset). For those two ours alone decide; for 'date' jsonschema's
    (datetime.date.fromisoformat) decides too except for year 0000, which RFC 3339 allows.
    """
    checker = jsonschema.FormatChecker()
    for name, own in _OWN_FORMATS.items():
        theirs = checker.checkers.get(name)

        def check(instance, own=own, theirs=theirs, name=name):
            if not isinstance(instance, str):
                return True
            if not own(instance):
                return False
            if theirs is None or name in ("time", "date-time"):
                return True
            if name == "date" and instance.startswith("0000-"):
                return True
            func, raises = theirs
            try:
                return bool(func(instance))
            except raises:
                return False

        checker.checkers[name] = (check, ())
    return checker


def _validate(schema, instance):
    """Returns a list of error messages (empty: valid)."""
    validator = jsonschema.Draft202012Validator(schema, format_checker=_format_checker())
    return ["%s at %s" % (e.message, "/".join(str(p) for p in e.absolute_path))
            for e in validator.iter_errors(instance)]


# ---------------------------------------------------------------------------------------------
# The JSON Schema suite
# ---------------------------------------------------------------------------------------------

SCHEMAS = [
    # Nested objects, required + optional properties, additionalProperties false, string lengths,
    # integer and number bounds, a format and a pattern inside.
    ("person", "{", {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 20},
            "age": {"type": "integer", "minimum": 0, "maximum": 130},
            "email": {"type": "string", "format": "email"},
            "nickname": {"type": "string", "maxLength": 8},
            "address": {
                "type": "object",
                "properties": {
                    "street": {"type": "string", "maxLength": 30},
                    "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
                    "geo": {
                        "type": "object",
                        "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90},
                                       "lon": {"type": "number", "minimum": -180, "maximum": 180}},
                        "required": ["lat", "lon"], "additionalProperties": False},
                },
                "required": ["street", "zip", "geo"], "additionalProperties": False},
        },
        "required": ["name", "age", "address"], "additionalProperties": False}),
    # A top-level array with minItems/maxItems of integers in a negative range.
    ("negative_int_array", "[", {
        "type": "array", "items": {"type": "integer", "minimum": -50, "maximum": -3},
        "minItems": 2, "maxItems": 5}),
    # enum (strings with non-ASCII, numbers, booleans, null, arrays, objects) and const.
    ("enums_and_const", "{", {
        "type": "object",
        "properties": {
            "color": {"enum": ["red", "grün", "青", "reddish"]},
            "level": {"enum": [1, 2, 3, -1.5, None, True]},
            "mixed": {"enum": ["x", 0, False, None, [1, "two"], {"k": "v"}]},
            "kind": {"const": "fixed"},
            "meta": {"const": {"v": 1, "tags": ["a", "b"]}},
        },
        "required": ["color", "level", "mixed", "kind", "meta"], "additionalProperties": False}),
    # String lengths (code points, so multi-byte tokens count right) and patterns.
    ("strings", "{", {
        "type": "object",
        "properties": {
            "short": {"type": "string", "maxLength": 3},
            "exact": {"type": "string", "minLength": 4, "maxLength": 4},
            "long": {"type": "string", "minLength": 10, "maxLength": 16},
            "code": {"type": "string", "pattern": "^[A-Z]{2,3}-\\d{3}$"},
            "version": {"type": "string", "pattern": "^v[0-9]{1,2}\\.[0-9]{1,2}(\\.[0-9]{1,3})?$"},
            "phone": {"type": "string", "pattern": "^\\+?1? ?\\(\\d{3}\\) \\d{3}-\\d{4}$"},
        },
        "required": ["short", "exact", "long", "code", "version", "phone"],
        "additionalProperties": False}),
    # String formats of bounded length.
    ("formats", "{", {
        "type": "object",
        "properties": {
            "day": {"type": "string", "format": "date"},
            "at": {"type": "string", "format": "time"},
            "when": {"type": "string", "format": "date-time"},
            "id": {"type": "string", "format": "uuid"},
        },
        "required": ["day", "at", "when", "id"], "additionalProperties": False}),
    # Formats whose strings may run long (a random model rarely ends a URI): often cut.
    ("formats_email_uri", "{", {
        "type": "object",
        "properties": {
            "mail": {"type": "string", "format": "email"},
            "link": {"type": "string", "format": "uri"},
        },
        "required": ["mail", "link"], "additionalProperties": False}),
    # Integers: inclusive and exclusive bounds, negative ranges, a single value, a wide range.
    ("integers", "{", {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "minimum": -1000, "maximum": -100},
            "b": {"type": "integer", "exclusiveMinimum": -10, "exclusiveMaximum": -1},
            "c": {"type": "integer", "exclusiveMinimum": 0, "maximum": 7},
            "d": {"type": "integer", "minimum": -5, "maximum": 123456},
            "e": {"type": "integer", "minimum": 0, "maximum": 0},
            "f": {"type": "integer", "minimum": 99, "exclusiveMaximum": 1001},
            "g": {"type": "integer", "exclusiveMinimum": -100},
            "h": {"type": "integer", "maximum": -20},
        },
        "required": ["a", "b", "c", "d", "e", "f", "g", "h"], "additionalProperties": False}),
    # Numbers with integer bounds (inclusive and exclusive, negative), and one unbounded.
    ("numbers", "{", {
        "type": "object",
        "properties": {
            "p": {"type": "number", "minimum": 0, "maximum": 1},
            "q": {"type": "number", "exclusiveMinimum": -3, "exclusiveMaximum": 2},
            "r": {"type": "number", "minimum": -100, "maximum": -10},
            "s": {"type": "number"},
            "t": {"type": "number", "exclusiveMinimum": 5},
        },
        "required": ["p", "q", "r", "s", "t"], "additionalProperties": False}),
    # anyOf / oneOf and type unions.
    ("unions", "{", {
        "type": "object",
        "properties": {
            "note": {"type": ["string", "null"]},
            "count": {"type": ["integer", "boolean"]},
            "value": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 9},
                                {"type": "string", "enum": ["none", "many"]},
                                {"type": "array", "items": {"type": "boolean"}, "maxItems": 3}]},
            "either": {"oneOf": [{"type": "object", "properties": {"x": {"type": "integer"}},
                                  "required": ["x"], "additionalProperties": False},
                                 {"type": "null"}]},
        },
        "required": ["note", "count", "value", "either"], "additionalProperties": False}),
    # A recursive $ref through $defs: a tree whose children arrays are bounded.
    ("recursive_tree", "{", {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "value": {"type": "integer", "minimum": -99, "maximum": 99},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2},
                },
                "required": ["value", "children"], "additionalProperties": False},
        },
        "$ref": "#/$defs/node"}),
    # prefixItems (a tuple), no further items.
    ("tuple", "[", {
        "type": "array",
        "prefixItems": [{"enum": ["GET", "POST", "DELETE"]},
                        {"type": "string", "pattern": "^/[a-z]{1,8}(/[a-z0-9]{1,8}){0,2}$"},
                        {"type": "integer", "minimum": 100, "maximum": 599},
                        {"type": "boolean"}],
        "items": False, "minItems": 3}),
    # Optional properties around a required one (the commas), nested arrays of bounded strings.
    ("optional_properties", "{", {
        "type": "object",
        "properties": {
            "a": {"type": "boolean"},
            "b": {"type": "integer", "minimum": 1, "maximum": 3},
            "c": {"type": "string", "maxLength": 5},
            "d": {"type": "array", "items": {"type": "string", "maxLength": 3}, "maxItems": 2},
            "e": {"type": "null"},
        },
        "required": ["c"], "additionalProperties": False}),
    # Extra properties with typed values after the declared one.
    ("typed_additional_properties", "{", {
        "type": "object",
        "properties": {"id": {"type": "integer", "minimum": 1, "maximum": 9}},
        "required": ["id"],
        "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 9}}),
    # A top-level array of objects.
    ("array_of_objects", "[", {
        "type": "array",
        "items": {"type": "object",
                  "properties": {"k": {"type": "string", "enum": ["a", "b"]},
                                 "n": {"type": "number", "minimum": -1, "maximum": 1}},
                  "required": ["k", "n"], "additionalProperties": False},
        "minItems": 1, "maxItems": 3}),
    # $ref into "definitions", allOf with one subschema, uniqueItems false.
    ("definitions_allof", "{", {
        "definitions": {
            "point": {"type": "object",
                      "properties": {"x": {"type": "integer", "minimum": -9, "maximum": 9},
                                     "y": {"type": "integer", "minimum": -9, "maximum": 9}},
                      "required": ["x", "y"], "additionalProperties": False}},
        "type": "object",
        "properties": {
            "path": {"type": "array", "items": {"$ref": "#/definitions/point"},
                     "minItems": 1, "maxItems": 4, "uniqueItems": False},
            "closed": {"allOf": [{"type": "boolean"}]},
        },
        "required": ["path", "closed"], "additionalProperties": False}),
    # A top-level scalar: a uuid string or a small integer.
    ("scalar_union", None, {
        "anyOf": [{"type": "string", "format": "uuid"},
                  {"type": "integer", "minimum": -3, "maximum": 3}]}),
]

SEEDS = (1, 2, 3)


def _carry(schema, carrier, name):
    if carrier == "response_format":
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": name, "schema": schema, "strict": True}}}
    if carrier == "guided_json":
        return {"guided_json": schema}
    if carrier == "guided_json_text":
        return {"guided_json": json.dumps(schema)}
    if carrier == "structured_outputs.json":
        return {"structured_outputs": {"json": schema}}
    raise ValueError(carrier)


CARRIERS = ("response_format", "guided_json", "structured_outputs.json", "guided_json_text")


class StructuredOutputTest(unittest.TestCase):
    maxDiff = None

    def _check_json_output(self, kind, name, schema, first, content, finish, resp, failures, where):
        """Validates one output; appends a description of any problem to `failures`."""
        _count(kind, "total")
        if os.environ.get("OVSERVE_TEST_VERBOSE"):
            print("%s %s %s [%s]: %s" % (kind, name, where, finish, content), file=sys.stderr)
        if finish == "stop":
            _count(kind, "stopped")
            try:
                instance = json.loads(content)
            except ValueError as e:
                failures.append("%s %s: finished output is not JSON (%s): %r\nresponse: %s"
                                % (name, where, e, content, _describe(resp)))
                return
            errors = _validate(schema, instance)
            if errors:
                failures.append("%s %s: output fails the schema: %s\noutput: %s\nschema: %s\nresponse: %s"
                                % (name, where, "; ".join(errors), content,
                                   json.dumps(schema, ensure_ascii=False), _describe(resp)))
                return
            # Compact: no whitespace outside strings.
            if re.search(r"[ \t\r\n]", re.sub(r'"(?:[^"\\]|\\.)*"', '""', content)):
                failures.append("%s %s: whitespace between JSON tokens: %r" % (name, where, content))
                return
            _count(kind, "validated")
        elif finish == "length":
            _count(kind, "length")
            if first is not None and not content.startswith(first):
                failures.append("%s %s: cut output does not start with %r: %r"
                                % (name, where, first, content))
        else:
            failures.append("%s %s: unexpected finish_reason %r\nresponse: %s"
                            % (name, where, finish, _describe(resp)))

    def test_json_schemas(self):
        jobs = []
        for i, (name, first, schema) in enumerate(SCHEMAS):
            jsonschema.Draft202012Validator.check_schema(schema)  # the suite itself is valid
            for seed in SEEDS:
                jobs.append((name, first, schema, seed, CARRIERS[(i + seed) % len(CARRIERS)]))

        def run(job):
            name, first, schema, seed, carrier = job
            return job, _chat(_carry(schema, carrier, name), prompt="Answer with JSON: " + name,
                              max_tokens=300, seed=seed)

        failures = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(run, jobs))
        stopped = 0
        for (name, first, schema, seed, carrier), (status, resp) in results:
            where = "(%s, seed %d)" % (carrier, seed)
            if status != 200:
                failures.append("%s %s: HTTP %d: %s" % (name, where, status, _describe(resp)))
                continue
            choice = resp["choices"][0]
            content, finish = choice["message"]["content"], choice["finish_reason"]
            stopped += finish == "stop"
            self._check_json_output("json_schema", name, schema, first, content, finish, resp,
                                    failures, where)
        self.assertEqual(failures, [], "\n\n".join(failures))
        # Most outputs finish, so the validation above is not vacuous.
        self.assertGreaterEqual(stopped, 0.7 * len(jobs),
                                "only %d of %d schema outputs finished" % (stopped, len(jobs)))

    def test_json_object(self):
        failures = []
        for seed in SEEDS:
            for extra in ({"response_format": {"type": "json_object"}},
                          {"structured_outputs": {"json_object": True}}):
                status, resp = _chat(extra, prompt="Reply with a JSON object.", max_tokens=300, seed=seed)
                self.assertEqual(status, 200, _describe(resp))
                choice = resp["choices"][0]
                content, finish = choice["message"]["content"], choice["finish_reason"]
                _count("json_object", "total")
                if finish == "stop":
                    _count("json_object", "stopped")
                    try:
                        value = json.loads(content)
                    except ValueError as e:
                        failures.append("json_object seed %d: not JSON (%s): %r" % (seed, e, content))
                        continue
                    if isinstance(value, dict):
                        _count("json_object", "validated")
                    else:
                        failures.append("json_object seed %d: not an object: %r" % (seed, content))
                else:
                    _count("json_object", "length")
                    self.assertEqual(finish, "length", _describe(resp))
                    if not content.startswith("{"):
                        failures.append("json_object seed %d: cut output not an object: %r" % (seed, content))
        self.assertEqual(failures, [], "\n".join(failures))

    def test_regex(self):
        regexes = [
            r"[a-z]{3,8}(-[0-9]{1,3})?",
            r"(cat|dog|bird|catfish)s?",
            r"\d{4}-\d{2}-\d{2}",
            r"\(\d{3}\) \d{3}-\d{4}",
            r"\+1-\d{3}-\d{3}-\d{4}",
            r"v\d{1,2}\.\d{1,2}\.\d{1,3}",
            "Größe: \\d{1,4}",
            r"[A-Z][a-z]{0,6}( [A-Z][a-z]{0,6}){0,2}\.",
            r"0x[0-9a-fA-F]{2,8}",
            r"[^,\n]{1,6},[^,\n]{1,6}",
            r"(ab|a)(bc|c)?",
            r"(?:[a-z]+\.){1,3}[a-z]{2,4}",
        ]
        failures = []
        for i, regex in enumerate(regexes):
            for seed in (1, 2):
                field = {"guided_regex": regex} if (i + seed) % 2 else {"structured_outputs": {"regex": regex}}
                # Every regex but the last is bounded: its strings fit in 64 tokens, so it must finish.
                status, resp = _chat(field, prompt="Match the pattern.", max_tokens=64, seed=seed)
                self.assertEqual(status, 200, "%r: %s" % (regex, _describe(resp)))
                choice = resp["choices"][0]
                content, finish = choice["message"]["content"], choice["finish_reason"]
                _count("regex", "total")
                if finish == "stop":
                    _count("regex", "stopped")
                    if re.fullmatch(regex, content):
                        _count("regex", "validated")
                    else:
                        failures.append("regex %r (%s, seed %d): output %r does not fully match\nresponse: %s"
                                        % (regex, list(field)[0], seed, content, _describe(resp)))
                else:
                    _count("regex", "length")
                    if regex != regexes[-1]:
                        failures.append("regex %r seed %d: bounded regex cut (%s): %r"
                                        % (regex, seed, finish, content))
        self.assertEqual(failures, [], "\n\n".join(failures))

    def test_choice(self):
        # Choices sharing prefixes (a choice may end where another goes on), non-ASCII, a space.
        choices = ["red", "reddish", "redder", "blue", "grün", "grünlich", "紅", "紅色", "a b"]
        seen = set()
        for seed in range(1, 9):
            field = {"guided_choice": choices} if seed % 3 else {"structured_outputs": {"choice": choices}}
            status, resp = _chat(field, prompt="Pick a color.", max_tokens=16, seed=seed)
            self.assertEqual(status, 200, _describe(resp))
            choice = resp["choices"][0]
            _count("choice", "total")
            self.assertEqual(choice["finish_reason"], "stop", _describe(resp))
            _count("choice", "stopped")
            self.assertIn(choice["message"]["content"], choices, _describe(resp))
            _count("choice", "validated")
            seen.add(choice["message"]["content"])
        self.assertGreaterEqual(len(seen), 2, "8 seeds at temperature 1 all picked %s" % seen)

    # ---- grammars -----------------------------------------------------------------------------

    ARITH_RECURSIVE = "\n".join([
        'root ::= expr',
        'expr ::= term (("+" | "-") term)*',
        'term ::= factor (("*" | "/") factor)*',
        'factor ::= number | "(" expr ")"',
        'number ::= [0-9]{1,4}',
    ])
    # The same language with nesting at most 2 deep and bounded repeats: finite, so it must finish.
    ARITH_BOUNDED = "\n".join([
        '# arithmetic, parentheses at most two deep',
        'root   ::= expr',
        'expr   ::= term ( [+-] term ){0,2}',
        'term   ::= factor ( ("*" | "/") factor ){0,2}',
        'factor ::= number | "(" expr1 ")"',
        'expr1  ::= term1 ( ("+" | "-") term1 ){0,2}',
        'term1  ::= factor1 ( [*/] factor1 ){0,1}',
        'factor1 ::= number | "(" expr2 ")"',
        'expr2  ::= number ( ("+" | "-" | "*" | "/") number ){0,2}',
        'number ::= [0-9] [0-9]? [0-9]?',
    ])

    @staticmethod
    def _parse_arith(text):
        """Recursive descent over expr/term/factor; returns the parenthesis depth, raises ValueError."""
        pos = 0
        max_depth = 0

        def peek():
            return text[pos] if pos < len(text) else ""

        def number():
            nonlocal pos
            start = pos
            while peek() and peek() in "0123456789":
                pos += 1
            if pos == start:
                raise ValueError("number expected at %d" % pos)
            if pos - start > 4:
                raise ValueError("number longer than 4 digits at %d" % start)

        def factor(depth):
            nonlocal pos, max_depth
            if peek() == "(":
                pos += 1
                max_depth = max(max_depth, depth + 1)
                expr(depth + 1)
                if peek() != ")":
                    raise ValueError("')' expected at %d" % pos)
                pos += 1
            else:
                number()

        def term(depth):
            nonlocal pos
            factor(depth)
            while peek() in ("*", "/"):
                pos += 1
                factor(depth)

        def expr(depth):
            nonlocal pos
            term(depth)
            while peek() in ("+", "-"):
                pos += 1
                term(depth)

        expr(0)
        if pos != len(text):
            raise ValueError("trailing text at %d" % pos)
        return max_depth

    @staticmethod
    def _arith_viable_prefix(text):
        """True when `text` can be extended to an expression of ARITH_RECURSIVE."""
        depth = 0
        state = "operand"  # operand: a number or '(' comes next; after: operator, ')' or more digits
        digits = 0
        for ch in text:
            if state == "operand":
                if ch == "(":
                    depth += 1
                elif ch in "0123456789":
                    state, digits = "number", 1
                else:
                    return False
            else:
                if ch in "0123456789" and state == "number" and digits < 4:
                    digits += 1
                elif ch in "+-*/":
                    state = "operand"
                elif ch == ")" and depth > 0:
                    depth -= 1
                    state = "closed"
                else:
                    return False
        return True

    def test_grammar_arithmetic(self):
        # The parser itself, on known inputs.
        self.assertEqual(self._parse_arith("1+(2*3)/(4-(5))"), 2)
        for bad in ("", "1+", "(1", "1)", "12345", "()", "1++2"):
            with self.assertRaises(ValueError, msg=bad):
                self._parse_arith(bad)
        self.assertTrue(self._arith_viable_prefix("1+(2*(3"))
        self.assertFalse(self._arith_viable_prefix("1+)"))

        failures = []
        for seed in SEEDS:
            # Finite grammar: must finish, parse, and keep within two levels of parentheses.
            status, resp = _chat({"guided_grammar": self.ARITH_BOUNDED}, prompt="Write a sum.",
                                 max_tokens=400, seed=seed)
            self.assertEqual(status, 200, _describe(resp))
            choice = resp["choices"][0]
            content, finish = choice["message"]["content"], choice["finish_reason"]
            _count("grammar_arith_bounded", "total")
            if finish != "stop":
                failures.append("bounded arithmetic seed %d did not finish (%s): %r" % (seed, finish, content))
                continue
            _count("grammar_arith_bounded", "stopped")
            try:
                depth = self._parse_arith(content)
                if depth > 2:
                    raise ValueError("parentheses %d deep" % depth)
                _count("grammar_arith_bounded", "validated")
            except ValueError as e:
                failures.append("bounded arithmetic seed %d: %s: %r" % (seed, e, content))

            # Recursive grammar: a finished output parses; a cut one is a viable prefix.
            field = {"guided_grammar": self.ARITH_RECURSIVE} if seed != 2 else \
                {"structured_outputs": {"grammar": self.ARITH_RECURSIVE}}
            status, resp = _chat(field, prompt="Write a formula.", max_tokens=120, seed=seed)
            self.assertEqual(status, 200, _describe(resp))
            choice = resp["choices"][0]
            content, finish = choice["message"]["content"], choice["finish_reason"]
            _count("grammar_arith_recursive", "total")
            if finish == "stop":
                _count("grammar_arith_recursive", "stopped")
                try:
                    self._parse_arith(content)
                    _count("grammar_arith_recursive", "validated")
                except ValueError as e:
                    failures.append("recursive arithmetic seed %d: %s: %r" % (seed, e, content))
            else:
                _count("grammar_arith_recursive", "length")
                if finish != "length" or not self._arith_viable_prefix(content):
                    failures.append("recursive arithmetic seed %d (%s): not a viable prefix: %r"
                                    % (seed, finish, content))
                else:
                    _count("grammar_arith_recursive", "validated")
        self.assertEqual(failures, [], "\n".join(failures))

    def test_grammar_word_list(self):
        grammar = 'root ::= word ("," word){0,5}\nword ::= [a-z]{1,10}\n'
        for seed in SEEDS:
            status, resp = _chat({"guided_grammar": grammar}, prompt="List some words.",
                                 max_tokens=80, seed=seed)
            self.assertEqual(status, 200, _describe(resp))
            choice = resp["choices"][0]
            _count("grammar_words", "total")
            self.assertEqual(choice["finish_reason"], "stop", _describe(resp))
            _count("grammar_words", "stopped")
            self.assertRegex(choice["message"]["content"], r"\A[a-z]{1,10}(,[a-z]{1,10}){0,5}\Z",
                             _describe(resp))
            _count("grammar_words", "validated")

    # ---- other endpoints and shapes -----------------------------------------------------------

    def test_completions_endpoint(self):
        choices = ["yes", "no", "maybe", "yesterday"]
        for seed in (1, 2):
            status, resp = _post("/v1/completions", {
                "prompt": "Will it rain tomorrow? Answer:", "max_tokens": 8, "temperature": 1.0,
                "seed": seed, "guided_choice": choices})
            self.assertEqual(status, 200, _describe(resp))
            self.assertEqual(resp["object"], "text_completion")
            _count("completions_choice", "total")
            self.assertEqual(resp["choices"][0]["finish_reason"], "stop", _describe(resp))
            _count("completions_choice", "stopped")
            self.assertIn(resp["choices"][0]["text"], choices, _describe(resp))
            _count("completions_choice", "validated")

    def test_n2(self):
        name, first, schema = SCHEMAS[0]
        status, resp = _chat(dict(_carry(schema, "response_format", name), n=2),
                             prompt="Two people as JSON.", max_tokens=300, seed=5)
        self.assertEqual(status, 200, _describe(resp))
        self.assertEqual([c["index"] for c in resp["choices"]], [0, 1])
        failures = []
        for c in resp["choices"]:
            self._check_json_output("n2", name, schema, first, c["message"]["content"], c["finish_reason"],
                                    resp, failures, "(n=2, choice %d)" % c["index"])
        self.assertEqual(failures, [], "\n\n".join(failures))
        self.assertTrue(any(c["finish_reason"] == "stop" for c in resp["choices"]), _describe(resp))

    def test_streaming(self):
        failures = []
        stopped = 0
        for seed, (name, first, schema) in ((1, SCHEMAS[2]), (2, SCHEMAS[8]), (3, SCHEMAS[9])):
            extra = _carry(schema, "guided_json", name)
            body = {"messages": [{"role": "user", "content": "Stream JSON."}], "max_tokens": 300,
                    "temperature": 1.0, "seed": seed, "stream": True}
            body.update(extra)
            status, events = _post_stream("/v1/chat/completions", body)
            self.assertEqual(status, 200)
            text = ""
            finish = None
            for event in events:
                for choice in event.get("choices", []):
                    text += choice.get("delta", {}).get("content") or ""
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            self.assertIn(finish, ("stop", "length"), json.dumps(events[-3:], ensure_ascii=False))
            stopped += finish == "stop"
            fake = {"stream_events_tail": events[-2:]}
            self._check_json_output("streaming", name, schema, first, text, finish, fake, failures,
                                    "(stream, seed %d)" % seed)
            # The same request without streaming gives the same text (same seed).
            body.pop("stream")
            status, whole = _post("/v1/chat/completions", body)
            self.assertEqual(status, 200, _describe(whole))
            if whole["choices"][0]["message"]["content"] != text:
                failures.append("%s seed %d: streamed text %r differs from the unstreamed %r"
                                % (name, seed, text, whole["choices"][0]["message"]["content"]))
        self.assertEqual(failures, [], "\n\n".join(failures))
        self.assertGreaterEqual(stopped, 1)

    # ---- property order -----------------------------------------------------------------------

    ORDER_SCHEMA = {
        "type": "object",
        "properties": {"zeta": {"type": "boolean"}, "alpha": {"type": "integer", "minimum": 0, "maximum": 9},
                       "mid": {"enum": ["x", "y"]}, "beta": {"type": "null"}},
        "required": ["zeta", "alpha", "mid", "beta"], "additionalProperties": False}

    def _property_orders(self, carrier):
        orders = []
        for seed in (1, 2):
            status, resp = _chat(_carry(self.ORDER_SCHEMA, carrier, "order"), max_tokens=64, seed=seed)
            self.assertEqual(status, 200, _describe(resp))
            choice = resp["choices"][0]
            self.assertEqual(choice["finish_reason"], "stop", _describe(resp))
            content = choice["message"]["content"]
            self.assertEqual(_validate(self.ORDER_SCHEMA, json.loads(content)), [], content)
            orders.append((content, [k for k, _ in json.loads(content, object_pairs_hook=lambda kv: kv)]))
        return orders

    def test_property_order_schema_text(self):
        # A schema sent as JSON text: properties come in the declared order (as OpenAI's do).
        for content, keys in self._property_orders("guided_json_text"):
            self.assertEqual(keys, ["zeta", "alpha", "mid", "beta"], content)

    def test_property_order_schema_object(self):
        # OpenAI: "outputs will be produced in the same order as the ordering of keys in the schema",
        # also for a schema sent as a JSON object (response_format, guided_json, structured_outputs).
        for carrier in ("response_format", "guided_json", "structured_outputs.json"):
            for content, keys in self._property_orders(carrier):
                self.assertEqual(keys, ["zeta", "alpha", "mid", "beta"], "%s: %s" % (carrier, content))

    # ---- refusals -----------------------------------------------------------------------------

    def _assert_400(self, extra, *needles):
        status, resp = _chat(extra, max_tokens=8)
        self.assertEqual(status, 400, _describe(resp))
        self.assertIn("error", resp, _describe(resp))
        error = resp["error"]
        self.assertEqual(error.get("type"), "invalid_request_error", _describe(resp))
        message = error.get("message", "")
        for needle in needles:
            self.assertRegex(message, needle, _describe(resp))
        _count("errors_400", "total")
        _count("errors_400", "validated")
        return message

    def test_zz_errors_then_recovery(self):
        self._assert_400({"guided_json": {"type": "object", "patternProperties": {"^x": {"type": "integer"}}}},
                         "patternProperties")
        self._assert_400({"response_format": {"type": "json_schema", "json_schema": {
            "name": "bad", "schema": {"type": "object", "properties": {
                "a": {"type": "object", "patternProperties": {"^x": {"type": "integer"}}}}}}}},
                         "patternProperties")
        self._assert_400({"guided_json": {"type": "string", "format": "ipv6-zone"}}, "ipv6-zone")
        self._assert_400({"guided_regex": "(a"}, r"\S")
        self._assert_400({"structured_outputs": {"regex": "a(?=b)"}}, r"\S")
        self._assert_400({"guided_grammar": 'root ::= root "a" | "b"'}, r"(?i)left[- ]recursi")
        self._assert_400({"guided_grammar": 'root ::= "a" missing'}, r"missing")
        self._assert_400({"guided_regex": "[a-z]+", "guided_choice": ["a", "b"]},
                         r"guided_regex|guided_choice")
        self._assert_400({"response_format": {"type": "json_object"}, "guided_json": {"type": "object"}},
                         r"response_format|guided_json")
        # The server still serves constrained requests afterwards.
        status, resp = _chat({"guided_choice": ["ok", "fine"]}, max_tokens=8)
        self.assertEqual(status, 200, _describe(resp))
        self.assertIn(resp["choices"][0]["message"]["content"], ("ok", "fine"))
        name, first, schema = SCHEMAS[1]
        status, resp = _chat({"guided_json": schema}, max_tokens=300, seed=4)
        self.assertEqual(status, 200, _describe(resp))
        failures = []
        self._check_json_output("json_schema_after_errors", name, schema, first,
                                resp["choices"][0]["message"]["content"], resp["choices"][0]["finish_reason"],
                                resp, failures, "(after errors)")
        self.assertEqual(failures, [], "\n".join(failures))


def main():
    started = time.time()
    program = unittest.main(exit=False, verbosity=2)
    ok = program.result.wasSuccessful()
    print("structured_output_http_test: %.1f s" % (time.time() - started), file=sys.stderr)
    if not ok:
        print("\n---- ovserve log ----\n" + _server_log()[-20000:], file=sys.stderr)
    if _work is not None:
        shutil.rmtree(_work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
