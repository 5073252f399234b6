#!/usr/bin/env python3
"""ovserve example client in Python (Debian's python3-grpcio and python3-protobuf).

The gRPC stubs are generated from proto/ovserve/v1/ovserve.proto with the system protoc
(see generate_stubs.sh). When they are not importable, load_stubs() generates them into a
temporary folder, so the script runs from a checkout as is:

    /usr/bin/python3 client/python/ovserve_client.py --server 127.0.0.1:50051 generate "Hello"
    /usr/bin/python3 client/python/ovserve_client.py generate --image a.jpg --max-tokens 64 \
        "Describe it"
    /usr/bin/python3 client/python/ovserve_client.py info
    /usr/bin/python3 client/python/ovserve_client.py --self-test

As a module:

    import ovserve_client as oc
    pb2, pb2_grpc = oc.load_stubs()
    client = oc.Client("127.0.0.1:50051")
    request = oc.build_request(pb2, "Describe it", images=["a.jpg"], max_tokens=64)
    for response in client.generate_stream(request):
        print(response.text, end="", flush=True)

generate streams the text to stdout and prints the finish reason and usage to stderr; on
an RPC error it prints "CODE_NAME: message" to stderr and exits 1.
"""

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(REPO_ROOT, "proto")
PROTO_FILE = "ovserve/v1/ovserve.proto"
GRPC_PYTHON_PLUGIN = "/usr/bin/grpc_python_plugin"

# SamplingParams fields, all settable from build_request(**sampling) and the CLI.
SAMPLING_FIELDS = (
    "max_tokens", "min_tokens", "temperature", "top_k", "top_p", "min_p",
    "repetition_penalty", "presence_penalty", "frequency_penalty", "seed", "stop",
    "stop_token_ids", "ignore_eos", "logprobs", "skip_special_tokens",
    "include_stop_str_in_output",
    # Structured output: at most one of these five, plus json_any_whitespace.
    "json_schema", "json_object", "regex", "choice", "grammar", "json_any_whitespace",
)
_CONSTRAINTS = ("json_schema", "json_object", "regex", "choice", "grammar")

_MIME_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
    ".bmp": "image/bmp", ".gif": "image/gif", ".tif": "image/tiff", ".tiff": "image/tiff",
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
    ".mkv": "video/x-matroska", ".webm": "video/webm", ".avi": "video/x-msvideo",
}


class ClientError(Exception):
    """A local error (unreadable file, bad argument); RPC errors stay grpc.RpcError."""


def generate_stubs(out_dir, proto_dir=PROTO_DIR):
    """Writes ovserve/v1/ovserve_pb2.py and ovserve_pb2_grpc.py under out_dir (system protoc)."""
    protoc = shutil.which("protoc") or "/usr/bin/protoc"
    if not os.path.exists(protoc):
        raise ClientError("protoc not found (Debian: protobuf-compiler)")
    if not os.path.exists(GRPC_PYTHON_PLUGIN):
        raise ClientError(GRPC_PYTHON_PLUGIN + " not found (Debian: protobuf-compiler-grpc)")
    os.makedirs(out_dir, exist_ok=True)
    command = [protoc, "-I", proto_dir, "--python_out=" + out_dir, "--grpc_python_out=" + out_dir,
               "--plugin=protoc-gen-grpc_python=" + GRPC_PYTHON_PLUGIN,
               os.path.join(proto_dir, PROTO_FILE)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ClientError("protoc failed: " + result.stderr.strip())


def load_stubs(stubs_dir=None):
    """Returns the (ovserve_pb2, ovserve_pb2_grpc) modules.

    stubs_dir (or $OVSERVE_PY_STUBS) names a folder generate_stubs.sh wrote; stubs missing
    there are generated into it. Without one, they go to a temporary folder removed at exit.
    """
    stubs_dir = stubs_dir or os.environ.get("OVSERVE_PY_STUBS")
    if not stubs_dir:
        stubs_dir = tempfile.mkdtemp(prefix="ovserve_stubs_")
        atexit.register(shutil.rmtree, stubs_dir, True)
    if not os.path.exists(os.path.join(stubs_dir, "ovserve", "v1", "ovserve_pb2_grpc.py")):
        generate_stubs(stubs_dir)
    if stubs_dir not in sys.path:
        sys.path.insert(0, stubs_dir)
    from ovserve.v1 import ovserve_pb2, ovserve_pb2_grpc  # pylint: disable=import-outside-toplevel
    return ovserve_pb2, ovserve_pb2_grpc


def _read_file(path, what):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ClientError("cannot read %s file '%s': %s" % (what, path, e.strerror)) from e
    if not data:
        raise ClientError("cannot use %s file '%s': it is empty" % (what, path))
    return data


def _mime_type(path):
    return _MIME_TYPES.get(os.path.splitext(path)[1].lower(), "")


def build_request(pb2, text, images=(), videos=(), system=None, num_frames=0, request_id="",
                  stream=None, priority=0, **sampling):
    """A chat GenerateRequest: [system message], then one user message with the images,
    the videos and the text, in that order. Sampling fields left None keep the server's
    defaults (see SAMPLING_FIELDS)."""
    unknown = set(sampling) - set(SAMPLING_FIELDS)
    if unknown:
        raise ClientError("unknown sampling fields: " + ", ".join(sorted(unknown)))
    constraints = [name for name in _CONSTRAINTS if sampling.get(name) not in (None, False)]
    if len(constraints) > 1:
        raise ClientError("give at most one constraint; got " + ", ".join(constraints))
    request = pb2.GenerateRequest(request_id=request_id or "", priority=priority)
    if system:
        request.chat.messages.add(role="system").content.add(text=system)
    user = request.chat.messages.add(role="user")
    for path in images:
        user.content.add(image=pb2.ImagePart(data=_read_file(path, "image"),
                                             mime_type=_mime_type(path)))
    for path in videos:
        user.content.add(video=pb2.VideoPart(data=_read_file(path, "video"),
                                             mime_type=_mime_type(path),
                                             num_frames=num_frames or 0))
    if text:
        user.content.add(text=text)
    if stream is not None:
        request.stream = stream
    for name, value in sampling.items():
        if value is None:
            continue
        if name in ("stop", "stop_token_ids"):
            getattr(request.sampling, name).extend(value)
        elif name == "choice":
            request.sampling.choice.values.extend(value)
        else:
            setattr(request.sampling, name, value)
    return request


def _split_list(values):
    """Repeated and comma-separated values: ["a.jpg,b.jpg", "c.jpg"] -> three paths."""
    out = []
    for value in values or ():
        out.extend(part for part in value.split(",") if part)
    return out


def request_from_args(pb2, args):
    """The GenerateRequest of a parsed `generate` command line."""
    sampling = {name: getattr(args, name, None) for name in SAMPLING_FIELDS}
    sampling["stop"] = args.stop or None
    sampling["stop_token_ids"] = [int(i) for i in _split_list(args.stop_token_ids)] or None
    sampling["ignore_eos"] = True if args.ignore_eos else None
    sampling["include_stop_str_in_output"] = True if args.include_stop_str_in_output else None
    if args.skip_special_tokens is not None:
        sampling["skip_special_tokens"] = args.skip_special_tokens == "true"
    def text_or_file(value, what):  # "@path" reads a schema or grammar from a file
        if value and value.startswith("@"):
            return _read_file(value[1:], what).decode()
        return value
    sampling["json_schema"] = text_or_file(args.json_schema, "JSON Schema")
    sampling["json_object"] = True if args.json_object else None
    sampling["regex"] = args.regex
    sampling["choice"] = _split_list(args.choice) or None
    sampling["grammar"] = text_or_file(args.grammar, "grammar")
    sampling["json_any_whitespace"] = True if args.json_any_whitespace else None
    text = " ".join(args.prompt)
    if text == "-":
        text = sys.stdin.read()
    return build_request(pb2, text, images=_split_list(args.image), videos=_split_list(args.video),
                         system=args.system, num_frames=args.num_frames,
                         request_id=args.request_id, stream=False if args.no_stream else None,
                         priority=args.priority, **sampling)


def service_config(load_balancing="round_robin", max_attempts=3):
    """The gRPC service config the C++ client uses too (client/channel_config.h): balancing
    over every address of the target, UNAVAILABLE retried while nothing was received."""
    if load_balancing not in ("round_robin", "pick_first"):
        raise ValueError(f"load balancing {load_balancing!r} is not round_robin or pick_first")
    if not 1 <= max_attempts <= 5:
        raise ValueError(f"max attempts {max_attempts} is outside 1..5 (gRPC's retry limit)")
    config = {"loadBalancingConfig": [{load_balancing: {}}]}
    if max_attempts > 1:
        config["methodConfig"] = [{
            "name": [{"service": "ovserve.v1.Ovserve"}],
            "retryPolicy": {"maxAttempts": max_attempts, "initialBackoff": "0.05s",
                            "maxBackoff": "1s", "backoffMultiplier": 2,
                            "retryableStatusCodes": ["UNAVAILABLE"]}}]
        config["retryThrottling"] = {"maxTokens": 10, "tokenRatio": 0.1}
    return json.dumps(config)


def channel_options(load_balancing="round_robin", max_attempts=3):
    """gRPC channel options: the service config, a retry buffer that holds whole media
    requests (64 MiB), and no 4 MiB message cap."""
    return [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1),
            ("grpc.service_config", service_config(load_balancing, max_attempts)),
            ("grpc.enable_retries", 1 if max_attempts > 1 else 0),
            ("grpc.per_rpc_retry_buffer_size", 64 << 20)]


class Client:
    """A thin wrapper over the generated stub: metadata, TLS, a default timeout, and
    round-robin over every address of the target ("dns:///ovserve-headless:50051",
    "ipv4:10.0.0.1:50051,10.0.0.2:50051") with UNAVAILABLE retried before any response."""

    def __init__(self, target="127.0.0.1:50051", api_key=None, root_ca=None, client_cert=None,
                 client_key=None, tls=False, timeout=None, stubs=None,
                 load_balancing="round_robin", max_attempts=3):
        import grpc  # pylint: disable=import-outside-toplevel
        self._pb2, pb2_grpc = stubs or load_stubs()
        options = channel_options(load_balancing, max_attempts)
        if tls or root_ca or client_cert:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_ca,
                                                       private_key=client_key,
                                                       certificate_chain=client_cert)
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._stub = pb2_grpc.OvserveStub(self._channel)
        self._metadata = [("authorization", "Bearer " + api_key)] if api_key else None
        self._timeout = timeout

    def close(self):
        self._channel.close()

    def generate_stream(self, request):
        """The response iterator; call .cancel() on it to stop the request."""
        return self._stub.Generate(request, metadata=self._metadata, timeout=self._timeout)

    def generate(self, request):
        """(text, final response) of a whole generation."""
        text, final = [], None
        for response in self.generate_stream(request):
            text.append(response.text)
            if response.finished:
                final = response
        return "".join(text), final

    def model_info(self):
        return self._stub.GetModelInfo(self._pb2.GetModelInfoRequest(), metadata=self._metadata,
                                       timeout=self._timeout)

    def tokenize(self, text):
        response = self._stub.Tokenize(self._pb2.TokenizeRequest(text=text),
                                       metadata=self._metadata, timeout=self._timeout)
        return list(response.token_ids)

    def detokenize(self, token_ids, skip_special_tokens=False):
        request = self._pb2.DetokenizeRequest(token_ids=token_ids,
                                              skip_special_tokens=skip_special_tokens)
        return self._stub.Detokenize(request, metadata=self._metadata, timeout=self._timeout).text

    def abort(self, request_ids):
        return self._stub.Abort(self._pb2.AbortRequest(request_ids=request_ids),
                                metadata=self._metadata, timeout=self._timeout)


def _summary(pb2, final):
    u = final.usage
    return ("[finish_reason=%s prompt_tokens=%d (text %d, image %d, video %d, cached %d) "
            "completion_tokens=%d ttft=%.3fs total=%.3fs]" % (
                pb2.FinishReason.Name(final.finish_reason), u.prompt_tokens,
                u.prompt_text_tokens, u.image_tokens, u.video_tokens, u.cached_tokens,
                u.completion_tokens, final.timings.time_to_first_token, final.timings.total))


def _to_json(message, indent=None):
    from google.protobuf import json_format  # pylint: disable=import-outside-toplevel
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=indent)


def _add_connection_flags(parser, suppress):
    default = (lambda value: argparse.SUPPRESS) if suppress else (lambda value: value)
    parser.add_argument("--server", default=default("127.0.0.1:50051"),
                        help="HOST:PORT or a gRPC target: dns:///NAME:PORT (every address), "
                             "ipv4:A:P,B:P, unix:PATH")
    parser.add_argument("--load-balancing", default=default("round_robin"),
                        choices=("round_robin", "pick_first"),
                        help="over the target's addresses")
    parser.add_argument("--max-attempts", type=int, default=default(3),
                        help="attempts while nothing was received, UNAVAILABLE only (1..5)")
    parser.add_argument("--api-key-file", default=default(None),
                        help="file with the API key (default: $OVSERVE_API_KEY)")
    parser.add_argument("--tls", action="store_true", default=default(False),
                        help="TLS with the system roots")
    parser.add_argument("--tls-ca", default=default(None), help="PEM root CA (turns TLS on)")
    parser.add_argument("--tls-cert", default=default(None), help="PEM client certificate (mTLS)")
    parser.add_argument("--tls-key", default=default(None), help="PEM client key (mTLS)")
    parser.add_argument("--timeout", type=float, default=default(None), help="seconds")
    parser.add_argument("--stubs", default=default(None),
                        help="folder of generated stubs (default: $OVSERVE_PY_STUBS or a temp dir)")


def make_parser():
    parser = argparse.ArgumentParser(
        prog="ovserve_client.py", description="ovserve example client",
        epilog="Connection flags go before or after the command.")
    _add_connection_flags(parser, suppress=False)
    parser.add_argument("--self-test", action="store_true",
                        help="check stub generation and request building, then exit")
    commands = parser.add_subparsers(dest="command")

    gen = commands.add_parser("generate", help="stream a generation to stdout")
    _add_connection_flags(gen, suppress=True)
    gen.add_argument("prompt", nargs="*", help='the text ("-" reads stdin)')
    gen.add_argument("--image", action="append", default=[], help="repeatable, or comma-separated")
    gen.add_argument("--video", action="append", default=[], help="repeatable, or comma-separated")
    gen.add_argument("--num-frames", type=int, default=0)
    gen.add_argument("--system")
    gen.add_argument("--request-id", default="")
    gen.add_argument("--priority", type=int, default=0)
    gen.add_argument("--max-tokens", type=int)
    gen.add_argument("--min-tokens", type=int)
    gen.add_argument("--temperature", type=float)
    gen.add_argument("--top-k", type=int)
    gen.add_argument("--top-p", type=float)
    gen.add_argument("--min-p", type=float)
    gen.add_argument("--repetition-penalty", type=float)
    gen.add_argument("--presence-penalty", type=float)
    gen.add_argument("--frequency-penalty", type=float)
    gen.add_argument("--seed", type=int)
    gen.add_argument("--stop", action="append", default=[], help="repeatable; kept whole")
    gen.add_argument("--stop-token-ids", action="append", default=[], help="comma-separated")
    gen.add_argument("--ignore-eos", action="store_true")
    gen.add_argument("--logprobs", type=int)
    gen.add_argument("--skip-special-tokens", choices=("true", "false"))
    gen.add_argument("--include-stop-str-in-output", action="store_true")
    gen.add_argument("--json-schema", help="constrain the output to this JSON Schema (text or @file)")
    gen.add_argument("--json-object", action="store_true", help="constrain the output to a JSON object")
    gen.add_argument("--regex", help="constrain the whole output to match this regex")
    gen.add_argument("--choice", action="append", default=[],
                     help="the output is exactly one of these (repeatable, or comma-separated)")
    gen.add_argument("--grammar", help="constrain the output to this GBNF grammar (text or @file)")
    gen.add_argument("--json-any-whitespace", action="store_true",
                     help="JSON constraints: allow whitespace between tokens")
    gen.add_argument("--no-stream", action="store_true", help="one response with all the text")
    gen.add_argument("--json", action="store_true", help="print raw responses, one JSON per line")

    info = commands.add_parser("info", help="model info as JSON")
    _add_connection_flags(info, suppress=True)
    tok = commands.add_parser("tokenize", help="text -> comma-separated token ids")
    _add_connection_flags(tok, suppress=True)
    tok.add_argument("text", nargs="+")
    detok = commands.add_parser("detokenize", help="token ids (1,2,3) -> text")
    _add_connection_flags(detok, suppress=True)
    detok.add_argument("ids", nargs="+")
    detok.add_argument("--skip-special-tokens", action="store_true")
    return parser


def _client_from_args(args, stubs):
    def read(path, what):
        return _read_file(path, what) if path else None
    api_key = None
    if args.api_key_file:
        api_key = read(args.api_key_file, "API key").decode().strip()
    elif os.environ.get("OVSERVE_API_KEY"):
        api_key = os.environ["OVSERVE_API_KEY"].strip()
    return Client(args.server, api_key=api_key, root_ca=read(args.tls_ca, "TLS root CA"),
                  client_cert=read(args.tls_cert, "TLS client certificate"),
                  client_key=read(args.tls_key, "TLS client key"), tls=args.tls,
                  timeout=args.timeout, stubs=stubs, load_balancing=args.load_balancing,
                  max_attempts=args.max_attempts)


def _run_generate(client, pb2, args, out, err):
    request = request_from_args(pb2, args)
    responses = client.generate_stream(request)
    final, last_text = None, ""
    try:
        for response in responses:
            if args.json:
                out.write(_to_json(response) + "\n")
            else:
                out.write(response.text)
                if response.text:
                    last_text = response.text
            out.flush()
            if response.finished:
                final = response
    except KeyboardInterrupt:
        responses.cancel()
        raise
    if not args.json and last_text and not last_text.endswith("\n"):
        out.write("\n")
        out.flush()
    if final is None:
        raise ClientError("the stream ended without a final response")
    if not args.json:
        err.write(_summary(pb2, final) + "\n")


def main(argv=None, out=sys.stdout, err=sys.stderr):
    args = make_parser().parse_args(argv)
    if args.self_test:
        return self_test()
    if not args.command:
        err.write("ovserve_client.py: a command is needed: generate, info, tokenize, detokenize\n")
        return 1
    try:
        import grpc  # pylint: disable=import-outside-toplevel
    except ImportError:
        err.write("ovserve_client.py: this python lacks grpc; use /usr/bin/python3 with Debian's "
                  "python3-grpcio and python3-protobuf\n")
        return 1
    try:
        pb2, pb2_grpc = load_stubs(args.stubs)
        client = _client_from_args(args, (pb2, pb2_grpc))
        try:
            if args.command == "generate":
                if not args.prompt:
                    raise ClientError("generate: missing the prompt text")
                _run_generate(client, pb2, args, out, err)
            elif args.command == "info":
                out.write(_to_json(client.model_info(), indent=2) + "\n")
            elif args.command == "tokenize":
                out.write(",".join(str(i) for i in client.tokenize(" ".join(args.text))) + "\n")
            elif args.command == "detokenize":
                ids = [int(i) for i in _split_list(args.ids)]
                out.write(client.detokenize(ids, args.skip_special_tokens) + "\n")
        finally:
            client.close()
    except grpc.RpcError as e:
        err.write("ovserve_client.py: %s: %s\n" % (e.code().name, e.details()))
        return 1
    except (ClientError, ValueError) as e:
        err.write("ovserve_client.py: %s\n" % e)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


# ---- self-test (run by ctest: python_client_self_test) ----

def self_test():
    """Stubs from the system protoc, request building and its serialization round trip,
    then generate / info / an error over a loopback fake server. Exit 77 = skipped."""
    try:
        import grpc  # pylint: disable=import-outside-toplevel
        import google.protobuf  # pylint: disable=import-outside-toplevel,unused-import
    except ImportError as e:
        print("SKIP: %s lacks grpc/protobuf (%s); install Debian's python3-grpcio and "
              "python3-protobuf" % (sys.executable, e))
        return 77
    import io  # pylint: disable=import-outside-toplevel
    from concurrent import futures  # pylint: disable=import-outside-toplevel

    work = tempfile.mkdtemp(prefix="ovserve_py_self_test_")
    try:
        stubs_dir = os.path.join(work, "stubs")
        generate_stubs(stubs_dir)
        for name in ("ovserve_pb2.py", "ovserve_pb2_grpc.py"):
            assert os.path.exists(os.path.join(stubs_dir, "ovserve", "v1", name)), name
        pb2, pb2_grpc = load_stubs(stubs_dir)

        image = os.path.join(work, "a.jpg")
        video = os.path.join(work, "b.mp4")
        with open(image, "wb") as f:
            f.write(b"\xff\xd8jpeg")
        with open(video, "wb") as f:
            f.write(b"mp4-bytes")

        # Request building from a command line, and its wire round trip.
        args = make_parser().parse_args([
            "generate", "--image", image, "--video", video, "--num-frames", "4",
            "--system", "be brief", "--max-tokens", "5", "--temperature", "0", "--top-k", "3",
            "--stop", "a,b", "--stop", "END", "--stop-token-ids", "7,8", "--seed", "11",
            "--ignore-eos", "--skip-special-tokens", "false", "--no-stream", "--request-id", "r1",
            "describe", "it"])
        request = request_from_args(pb2, args)
        parsed = pb2.GenerateRequest.FromString(request.SerializeToString())
        assert parsed == request
        assert parsed.request_id == "r1" and parsed.HasField("stream") and not parsed.stream
        system, user = parsed.chat.messages
        assert system.role == "system" and system.content[0].text == "be brief"
        assert user.role == "user" and len(user.content) == 3, user
        assert user.content[0].image.data == b"\xff\xd8jpeg"
        assert user.content[0].image.mime_type == "image/jpeg"
        assert user.content[1].video.data == b"mp4-bytes" and user.content[1].video.num_frames == 4
        assert user.content[2].text == "describe it"
        s = parsed.sampling
        assert s.HasField("max_tokens") and s.max_tokens == 5
        assert s.HasField("temperature") and s.temperature == 0.0
        assert s.top_k == 3 and s.seed == 11 and s.ignore_eos
        assert list(s.stop) == ["a,b", "END"] and list(s.stop_token_ids) == [7, 8]
        assert s.HasField("skip_special_tokens") and not s.skip_special_tokens
        assert not s.HasField("top_p") and not s.HasField("repetition_penalty")

        schema_file = os.path.join(work, "schema.json")
        with open(schema_file, "w") as f:
            f.write('{"type":"integer"}')
        constrained = request_from_args(pb2, make_parser().parse_args(
            ["generate", "--json-schema", "@" + schema_file, "--json-any-whitespace", "hi"]))
        assert constrained.sampling.WhichOneof("constraint") == "json_schema"
        assert constrained.sampling.json_schema == '{"type":"integer"}'
        assert constrained.sampling.json_any_whitespace
        choice = request_from_args(pb2, make_parser().parse_args(
            ["generate", "--choice", "yes,no", "--choice", "maybe", "hi"]))
        assert list(choice.sampling.choice.values) == ["yes", "no", "maybe"]
        try:
            request_from_args(pb2, make_parser().parse_args(["generate", "--regex", "a+", "--json-object", "hi"]))
            raise AssertionError("two constraints were accepted")
        except ClientError as e:
            assert "at most one constraint" in str(e), e

        plain = request_from_args(pb2, make_parser().parse_args(["generate", "hi"]))
        assert plain.sampling.WhichOneof("constraint") is None
        assert len(plain.chat.messages) == 1 and not plain.HasField("stream")
        assert not plain.sampling.HasField("max_tokens") and not plain.sampling.HasField("seed")

        try:
            build_request(pb2, "x", images=[os.path.join(work, "missing.jpg")])
            raise AssertionError("a missing image was accepted")
        except ClientError as e:
            assert "cannot read image file" in str(e) and "missing.jpg" in str(e), e

        # A loopback fake server: Generate echoes the prompt word by word.
        # "unavailable ...": UNAVAILABLE before any response, once per server (a drain).
        class FakeOvserve(pb2_grpc.OvserveServicer):
            def __init__(self):
                self.calls, self.refused = 0, False

            def Generate(self, request, context):
                self.calls += 1
                words = request.chat.messages[-1].content[-1].text.split()
                if words[0] == "fail":
                    context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "fake: out of KV blocks")
                if words[0] == "unavailable" and not self.refused:
                    self.refused = True
                    context.abort(grpc.StatusCode.UNAVAILABLE, "fake: draining")
                for i, word in enumerate(words):
                    yield pb2.GenerateResponse(text=word if i == 0 else " " + word,
                                               token_ids=[1000 + i])
                yield pb2.GenerateResponse(finished=True, finish_reason=pb2.FINISH_REASON_STOP,
                                           usage=pb2.Usage(completion_tokens=len(words)))

            def GetModelInfo(self, request, context):
                return pb2.ModelInfo(model_name="fake-llava-ov", context_length=4096)

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb2_grpc.add_OvserveServicer_to_server(FakeOvserve(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            out, err = io.StringIO(), io.StringIO()
            rc = main(["--server", "127.0.0.1:%d" % port, "--stubs", stubs_dir, "generate",
                       "hello", "python", "world"], out=out, err=err)
            assert rc == 0, err.getvalue()
            assert out.getvalue() == "hello python world\n", repr(out.getvalue())
            assert "FINISH_REASON_STOP" in err.getvalue(), err.getvalue()
            assert "completion_tokens=3" in err.getvalue(), err.getvalue()

            out, err = io.StringIO(), io.StringIO()
            rc = main(["generate", "--server", "127.0.0.1:%d" % port, "--stubs", stubs_dir,
                       "--json", "a b"], out=out, err=err)
            assert rc == 0, err.getvalue()
            lines = out.getvalue().splitlines()
            assert len(lines) == 3 and '"finished": true' in lines[-1], lines

            out, err = io.StringIO(), io.StringIO()
            rc = main(["--server", "127.0.0.1:%d" % port, "--stubs", stubs_dir, "generate",
                       "fail"], out=out, err=err)
            assert rc == 1 and "RESOURCE_EXHAUSTED: fake: out of KV blocks" in err.getvalue(), \
                err.getvalue()

            out, err = io.StringIO(), io.StringIO()
            rc = main(["--server", "127.0.0.1:%d" % port, "--stubs", stubs_dir, "info"],
                      out=out, err=err)
            assert rc == 0 and '"model_name": "fake-llava-ov"' in out.getvalue(), out.getvalue()

            # Two replicas behind one target: calls spread round-robin, and a replica's
            # UNAVAILABLE before any response is retried on the other.
            fakes = [FakeOvserve(), FakeOvserve()]
            servers = [grpc.server(futures.ThreadPoolExecutor(max_workers=2)) for _ in fakes]
            ports = []
            for fake, replica in zip(fakes, servers):
                pb2_grpc.add_OvserveServicer_to_server(fake, replica)
                ports.append(replica.add_insecure_port("127.0.0.1:0"))
                replica.start()
            try:
                target = "ipv4:" + ",".join("127.0.0.1:%d" % p for p in ports)
                client = Client(target, stubs=(pb2, pb2_grpc), timeout=30)
                grpc.channel_ready_future(client._channel).result(timeout=10)  # pylint: disable=protected-access
                for _ in range(40):
                    assert client.generate(build_request(pb2, "hi"))[0] == "hi"
                assert min(f.calls for f in fakes) >= 16, [f.calls for f in fakes]
                for _ in range(8):
                    text, _ = client.generate(build_request(pb2, "unavailable but fine"))
                    assert text == "unavailable but fine", text
                assert sum(f.calls for f in fakes) == 40 + 8 + 2, [f.calls for f in fakes]
                client.close()
            finally:
                for replica in servers:
                    replica.stop(grace=None)
        finally:
            server.stop(grace=None)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("self-test: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
