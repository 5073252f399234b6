"""Checks of rendered Kubernetes objects for the ovserve deployment (no cluster, no renderer).

check_objects() holds the objects to what ovserve needs: every flag passed to the server
exists in `ovserve serve --help`, ports (gRPC, HTTP, metrics on a Service of its own),
probes, drain and grace period, volumes, security context, the NetworkPolicy's rules, the
InferencePool and the selectors between the objects agree. check_schema() validates each
object against the Kubernetes API types of Debian's python3-kubernetes (strict: unknown
keys, wrong types and missing required fields are errors), with the few fields newer than
its API version (gRPC probes, autoscaling/v2) and the CRDs (Prometheus Operator monitors,
the Gateway API Inference Extension's InferencePool) added here. Both return a list of
messages.
"""

import re
import subprocess

import yaml

SERVER_CONTAINER = "ovserve"
HEALTH_SERVICES = ("", "ovserve.v1.Ovserve")
KNOWN_KINDS = {
    ("v1", "Service"), ("v1", "ServiceAccount"), ("v1", "ConfigMap"),
    ("apps/v1", "Deployment"), ("policy/v1", "PodDisruptionBudget"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"), ("networking.k8s.io/v1", "NetworkPolicy"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PodMonitor"),
    ("inference.networking.k8s.io/v1", "InferencePool"),
}
# The ports the server listens on: (flag, container port name, the flag's default).
SERVER_PORTS = (("port", "grpc", 50051), ("http_port", "http", 8000), ("metrics_port", "metrics", 9090))
API_PORTS = ("grpc", "http")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# ovserve's names, and the vLLM-named aliases it serves for inference-gateway endpoint pickers.
METRIC_NAME = re.compile(r"\b(?:ovserve_[a-z0-9_]*[a-z0-9]|vllm:[a-z0-9_]*[a-z0-9])")
MIN_STARTUP_ALLOWANCE_S = 1800  # loading a 72B checkpoint from network storage takes many minutes


def load_documents(text, source):
    """Parses a multi-document YAML stream; returns the non-empty documents."""
    docs = []
    for doc in yaml.safe_load_all(text):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ValueError(f"{source}: a document is a {type(doc).__name__}, not a mapping")
        docs.append(doc)
    return docs


def server_flags(ovserve_binary):
    """The flag names `ovserve serve --help` lists, with underscores."""
    result = subprocess.run([ovserve_binary, "serve", "--help"], capture_output=True, text=True,
                            timeout=60)
    flags = set(re.findall(r"^\s+--([a-z0-9_]+) \(", result.stdout + result.stderr, re.M))
    if "model" not in flags or "port" not in flags:
        raise RuntimeError(f"`{ovserve_binary} serve --help` listed no flags:\n{result.stdout}")
    return flags


def flag_name(arg):
    """'--max-batched-tokens=8' -> 'max_batched_tokens'; None for a non-flag argument."""
    if not arg.startswith("--") or arg == "--":
        return None
    return arg[2:].split("=", 1)[0].replace("-", "_")


def check_server_args(args, flags, where):
    """`serve` then --flag=value arguments, each flag known to the server, none twice."""
    errors = []
    if not args or args[0] != "serve":
        return [f"{where}: the arguments must start with 'serve' (the image's entrypoint is ovserve)"]
    seen = {}
    for arg in args[1:]:
        if not isinstance(arg, str):
            errors.append(f"{where}: argument {arg!r} is not a string")
            continue
        name = flag_name(arg)
        if name is None:
            errors.append(f"{where}: argument {arg!r} is not a --flag (ovserve serve takes none)")
            continue
        if name not in flags:
            errors.append(f"{where}: --{name} is not a flag of `ovserve serve` (see --help)")
        if name in seen:
            errors.append(f"{where}: --{name} is passed twice ({seen[name]!r}, {arg!r})")
        seen[name] = arg
    return errors


def flag_values(args):
    """{'max_batched_tokens': '8192', ...} from --flag=value arguments (bare flags: 'true')."""
    values = {}
    for arg in args or []:
        name = flag_name(arg) if isinstance(arg, str) else None
        if name:
            values[name] = arg.split("=", 1)[1] if "=" in arg else "true"
    return values


def metric_names(text):
    """Every ovserve_* (and vllm:*) metric name in a text (PromQL, values, templates)."""
    return set(METRIC_NAME.findall(text))


def _name(obj):
    return (obj.get("metadata") or {}).get("name", "")


def _selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _container(deployment):
    containers = deployment["spec"]["template"]["spec"].get("containers") or []
    for c in containers:
        if c.get("name") == SERVER_CONTAINER:
            return c
    return containers[0] if containers else None


def _under(path, mount):
    mount = mount.rstrip("/")
    return path == mount or path.startswith(mount + "/")


def _check_metadata(obj, where):
    errors = []
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        return [f"{where}: metadata.name is missing"]
    name = meta["name"]
    pattern = DNS_LABEL if obj.get("kind") in ("Service", "Deployment") else DNS_SUBDOMAIN
    if len(name) > (63 if pattern is DNS_LABEL else 253) or not pattern.match(name):
        errors.append(f"{where}: metadata.name {name!r} is not a valid DNS name")
    for key, value in (meta.get("labels") or {}).items():
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            errors.append(f"{where}: label {key}={value!r} is not a valid label value")
    for key, value in (meta.get("annotations") or {}).items():
        if not isinstance(value, str):
            errors.append(f"{where}: annotation {key} must be a string, is {value!r}")
    return errors


def _check_deployment(dep, flags, where):
    errors = []
    spec = dep.get("spec") or {}
    template = spec.get("template") or {}
    pod_labels = (template.get("metadata") or {}).get("labels") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    if not _selects(selector, pod_labels):
        errors.append(f"{where}: spec.selector.matchLabels {selector} do not match the pod labels")
    pod = template.get("spec") or {}
    container = _container(dep)
    if container is None:
        return errors + [f"{where}: no containers"]
    cwhere = f"{where} container {container.get('name')}"
    args = list(container.get("command") or [])[1:] + list(container.get("args") or [])
    if container.get("command"):
        errors.append(f"{cwhere}: leave command unset (the image's entrypoint is ovserve)")
    errors += check_server_args(args, flags, cwhere)
    values = flag_values(args)

    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
    for flag, port_name, default in SERVER_PORTS:
        want = int(values.get(flag, default))
        if ports.get(port_name) != want:
            errors.append(f"{cwhere}: containerPort '{port_name}' is {ports.get(port_name)!r}, "
                          f"the server listens on --{flag.replace('_', '-')}={want}")
    if values.get("host", "0.0.0.0") not in ("0.0.0.0", "[::]", "::"):
        errors.append(f"{cwhere}: --host={values['host']} is not reachable from the kubelet and Service")

    # Probes: native gRPC health in plaintext; with TLS, HTTPS GET /health on the HTTP port
    # (200 serving, 503 loading or draining), which kubelet asks without verifying the cert.
    tls = "tls_cert" in values
    for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = container.get(probe_name)
        if not probe:
            errors.append(f"{cwhere}: {probe_name} is missing")
            continue
        if "grpc" in probe:
            if tls:
                errors.append(f"{cwhere}: {probe_name} is a gRPC probe, which cannot speak TLS")
            if probe["grpc"].get("port") != ports.get("grpc"):
                errors.append(f"{cwhere}: {probe_name} probes port {probe['grpc'].get('port')!r}, "
                              f"not the gRPC port {ports.get('grpc')}")
            if probe["grpc"].get("service", "") not in HEALTH_SERVICES:
                errors.append(f"{cwhere}: {probe_name} asks for health service "
                              f"{probe['grpc'].get('service')!r}; the server reports {HEALTH_SERVICES}")
        elif "httpGet" in probe:
            get = probe["httpGet"]
            if not tls:
                errors.append(f"{cwhere}: {probe_name} is an HTTP probe; without TLS use grpc "
                              f"(grpc.health.v1)")
            if get.get("path") != "/health":
                errors.append(f"{cwhere}: {probe_name} asks {get.get('path')!r}, not /health")
            if get.get("port") not in ("http", ports.get("http")):
                errors.append(f"{cwhere}: {probe_name} does not probe the HTTP port")
            if get.get("scheme", "HTTP") != ("HTTPS" if tls else "HTTP"):
                errors.append(f"{cwhere}: {probe_name} uses scheme {get.get('scheme', 'HTTP')} but the "
                              f"server {'speaks' if tls else 'does not speak'} TLS")
        else:
            errors.append(f"{cwhere}: {probe_name} is neither a gRPC probe nor an HTTP /health probe "
                          f"(a TCP probe only says the port is open)")
    startup = container.get("startupProbe") or {}
    allowance = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
    if allowance < MIN_STARTUP_ALLOWANCE_S:
        errors.append(f"{cwhere}: startupProbe allows {allowance} s for model loading, "
                      f"less than {MIN_STARTUP_ALLOWANCE_S}")

    # Drain: the grace period covers the preStop hook and --drain-timeout-ms.
    drain_s = int(values.get("drain_timeout_ms", 30000)) / 1000.0
    pre_stop = ((container.get("lifecycle") or {}).get("preStop") or {}).get("exec", {})
    sleep_s = 0
    command = pre_stop.get("command") or []
    if command[:1] == ["sleep"] and len(command) == 2:
        sleep_s = float(command[1])
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace < drain_s + sleep_s:
        errors.append(f"{where}: terminationGracePeriodSeconds {grace} < preStop {sleep_s:g} s "
                      f"+ --drain-timeout-ms {drain_s:g} s: the kubelet kills the drain")

    # Volumes and mounts.
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    mounts = container.get("volumeMounts") or []
    for m in mounts:
        if m.get("name") not in volumes:
            errors.append(f"{cwhere}: volumeMount {m.get('name')} names no volume")
    for name, volume in volumes.items():
        if "emptyDir" in volume and not (volume["emptyDir"] or {}).get("sizeLimit"):
            errors.append(f"{where}: emptyDir volume {name} has no sizeLimit (an unbounded emptyDir "
                          f"can fill the node's disk or memory)")

    def mount_of(path):
        best = None
        for m in mounts:
            if _under(path, m.get("mountPath", "")) and (
                    best is None or len(m["mountPath"]) > len(best["mountPath"])):
                best = m
        return best

    if "model" not in values:
        errors.append(f"{cwhere}: --model is not passed (without it the server generates a demo "
                      f"checkpoint that needs the source tree's fixtures)")
    else:
        m = mount_of(values["model"])
        if m is None:
            errors.append(f"{cwhere}: --model={values['model']} lies under no volumeMount")
        elif not m.get("readOnly"):
            errors.append(f"{cwhere}: the model volume {m.get('name')} should be mounted readOnly")
    for flag in ("tls_cert", "tls_key", "tls_client_ca", "api_key_file"):
        if flag not in values:
            continue
        m = mount_of(values[flag])
        volume = volumes.get(m.get("name")) if m else None
        if volume is None or "secret" not in volume:
            errors.append(f"{cwhere}: --{flag.replace('_', '-')}={values[flag]} is not under a "
                          f"mounted Secret")
            continue
        if m.get("subPath"):
            errors.append(f"{cwhere}: --{flag.replace('_', '-')} comes through a subPath mount, which "
                          f"the kubelet never updates: a rotated Secret would not reach the server")
        key = values[flag][len(m["mountPath"].rstrip("/")) + 1:]
        items = volume["secret"].get("items")
        if items is not None and key not in [i.get("path") for i in items]:
            errors.append(f"{cwhere}: --{flag.replace('_', '-')} reads {key}, which the Secret "
                          f"volume {m.get('name')} does not project")
    if "tls_cert" in values and "tls_key" not in values:
        errors.append(f"{cwhere}: --tls-cert without --tls-key")

    # Security: non-root, read-only root file system (with a writable /tmp), no escalation.
    pod_sc = pod.get("securityContext") or {}
    sc = container.get("securityContext") or {}
    if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))):
        errors.append(f"{cwhere}: runAsNonRoot is not set")
    if sc.get("runAsUser", pod_sc.get("runAsUser", 1)) == 0:
        errors.append(f"{cwhere}: runs as root (runAsUser 0)")
    if sc.get("allowPrivilegeEscalation") is not False:
        errors.append(f"{cwhere}: allowPrivilegeEscalation must be false")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        errors.append(f"{cwhere}: capabilities must drop ALL")
    if sc.get("readOnlyRootFilesystem") is not True:
        errors.append(f"{cwhere}: readOnlyRootFilesystem must be true")
    elif mount_of("/tmp") is None or mount_of("/tmp")["mountPath"] != "/tmp":
        errors.append(f"{cwhere}: a read-only root file system needs a writable /tmp volume")

    # GPUs: NCCL between tensor-parallel ranks wants a memory-backed /dev/shm.
    limits = (container.get("resources") or {}).get("limits") or {}
    gpus = int(limits.get("nvidia.com/gpu", 0))
    if gpus > 1:
        shm = mount_of("/dev/shm")
        volume = volumes.get(shm.get("name")) if shm else None
        if shm is None or shm["mountPath"] != "/dev/shm" or \
                ((volume or {}).get("emptyDir") or {}).get("medium") != "Memory":
            errors.append(f"{cwhere}: {gpus} GPUs (tensor parallel) need /dev/shm from an "
                          f"emptyDir with medium Memory, for NCCL")
    requests = (container.get("resources") or {}).get("requests") or {}
    if "nvidia.com/gpu" in requests and requests["nvidia.com/gpu"] != limits.get("nvidia.com/gpu"):
        errors.append(f"{cwhere}: GPU requests and limits differ")
    return errors


def check_objects(objects, flags, source):
    """Cross-object and ovserve-specific checks; returns error messages."""
    errors = []
    seen = set()
    by_kind = {}
    for i, obj in enumerate(objects):
        kind, api = obj.get("kind"), obj.get("apiVersion")
        where = f"{source}: {kind or '?'} {_name(obj) or '#' + str(i)}"
        if (api, kind) == ("v1", "Secret"):
            errors.append(f"{where}: the deployment holds no key material; Secrets are made outside it "
                          f"(apiKey.existingSecret, tls.secretName)")
            continue
        if (api, kind) not in KNOWN_KINDS:
            errors.append(f"{where}: unexpected apiVersion/kind {api}/{kind}")
            continue
        errors += _check_metadata(obj, where)
        key = (kind, _name(obj))
        if key in seen:
            errors.append(f"{where}: defined twice")
        seen.add(key)
        by_kind.setdefault(kind, []).append(obj)

    deployments = by_kind.get("Deployment", [])
    if len(deployments) != 1:
        errors.append(f"{source}: expected one Deployment, found {len(deployments)}")
    for dep in deployments:
        errors += _check_deployment(dep, flags, f"{source}: Deployment {_name(dep)}")
    pod_labels = [((d["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
                  for d in deployments]
    port_names = set()
    container_ports = {}  # name -> number
    for dep in deployments:
        c = _container(dep) or {}
        port_names |= {p.get("name") for p in c.get("ports") or []}
        container_ports.update({p.get("name"): p.get("containerPort") for p in c.get("ports") or []})

    services = by_kind.get("Service", [])
    if not services:
        errors.append(f"{source}: no Service")
    exposed = set()
    for svc in services:
        where = f"{source}: Service {_name(svc)}"
        spec = svc.get("spec") or {}
        if not any(_selects(spec.get("selector") or {}, labels) for labels in pod_labels):
            errors.append(f"{where}: selector {spec.get('selector')} matches no Deployment's pods")
        names = {p.get("name") for p in spec.get("ports") or []}
        exposed |= names
        # /metrics on a Service of its own: scrapers need no way to the API, nor API clients to it.
        if "metrics" in names and names & set(API_PORTS):
            errors.append(f"{where}: exposes the metrics port beside the API ports {sorted(names)}; "
                          f"give /metrics a Service of its own")
        for p in spec.get("ports") or []:
            target = p.get("targetPort", p.get("port"))
            if isinstance(target, str) and target not in port_names:
                errors.append(f"{where}: port {p.get('name')} targets {target!r}, no container port")
    if services and not {"grpc", "http", "metrics"} <= exposed:
        errors.append(f"{source}: the Services expose {sorted(exposed)}; grpc, http (the OpenAI API) "
                      f"and metrics are needed")

    for pdb in by_kind.get("PodDisruptionBudget", []):
        where = f"{source}: PodDisruptionBudget {_name(pdb)}"
        spec = pdb.get("spec") or {}
        if ("minAvailable" in spec) == ("maxUnavailable" in spec):
            errors.append(f"{where}: set exactly one of minAvailable and maxUnavailable")
        if not any(_selects((spec.get("selector") or {}).get("matchLabels") or {}, labels)
                   for labels in pod_labels):
            errors.append(f"{where}: selector matches no Deployment's pods")

    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        where = f"{source}: HorizontalPodAutoscaler {_name(hpa)}"
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        target = [d for d in deployments if _name(d) == ref.get("name")]
        if ref.get("kind") != "Deployment" or not target:
            errors.append(f"{where}: scaleTargetRef {ref} names no Deployment here")
        elif "replicas" in target[0]["spec"]:
            errors.append(f"{where}: the Deployment sets replicas, which fights the autoscaler")
        if spec.get("minReplicas", 1) > spec.get("maxReplicas", 0):
            errors.append(f"{where}: minReplicas > maxReplicas")
        for metric in spec.get("metrics") or []:
            name = ((metric.get(metric.get("type", "").lower() if metric.get("type") else "") or {})
                    .get("metric") or {}).get("name", "")
            if metric.get("type") in ("Pods", "Object", "External") and not name:
                errors.append(f"{where}: a {metric.get('type')} metric without a name")

    for mon in by_kind.get("ServiceMonitor", []):
        where = f"{source}: ServiceMonitor {_name(mon)}"
        spec = mon.get("spec") or {}
        selected = [s for s in services if _selects((spec.get("selector") or {}).get("matchLabels") or {},
                                                    (s.get("metadata") or {}).get("labels") or {})]
        if not selected:
            errors.append(f"{where}: selector matches no Service")
        svc_ports = {p.get("name") for s in selected for p in (s.get("spec") or {}).get("ports") or []}
        for ep in spec.get("endpoints") or []:
            if ep.get("port") not in svc_ports:
                errors.append(f"{where}: endpoint port {ep.get('port')!r} is no port of the Services "
                              f"it selects ({sorted(_name(s) for s in selected)})")
    for mon in by_kind.get("PodMonitor", []):
        where = f"{source}: PodMonitor {_name(mon)}"
        spec = mon.get("spec") or {}
        if not any(_selects((spec.get("selector") or {}).get("matchLabels") or {}, labels)
                   for labels in pod_labels):
            errors.append(f"{where}: selector matches no Deployment's pods")
        for ep in spec.get("podMetricsEndpoints") or []:
            if ep.get("port") not in port_names:
                errors.append(f"{where}: endpoint port {ep.get('port')!r} is no container port name")

    for policy in by_kind.get("NetworkPolicy", []):
        errors += _check_network_policy(policy, pod_labels, container_ports,
                                        f"{source}: NetworkPolicy {_name(policy)}")
    for pool in by_kind.get("InferencePool", []):
        errors += check_inference_pool(pool, f"{source}: InferencePool {_name(pool)}")
        selector = ((pool.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        if not any(_selects(selector, labels) for labels in pod_labels):
            errors.append(f"{source}: InferencePool {_name(pool)}: selector {selector} matches no "
                          f"Deployment's pods")
        targets = [p.get("number") for p in (pool.get("spec") or {}).get("targetPorts") or []]
        if container_ports.get("http") not in targets:
            errors.append(f"{source}: InferencePool {_name(pool)}: targetPorts {targets} miss the HTTP "
                          f"API port {container_ports.get('http')} (the gateway speaks OpenAI HTTP)")
        for policy in by_kind.get("NetworkPolicy", []):
            if not _admits_port(policy, "http", container_ports):
                errors.append(f"{source}: NetworkPolicy {_name(policy)} admits no one to the HTTP port "
                              f"the InferencePool targets")
    return errors


def _port_ref(port, container_ports):
    """A NetworkPolicyPort's port (name or number) as a container port name; None: every port."""
    if port is None:
        return None
    if isinstance(port, str):
        return port
    for name, number in container_ports.items():
        if number == port:
            return name
    return f"#{port}"


def _admits_port(policy, name, container_ports):
    for rule in (policy.get("spec") or {}).get("ingress") or []:
        ports = rule.get("ports") or [{}]
        if any(_port_ref(p.get("port"), container_ports) in (None, name) for p in ports):
            return True
    return False


def _check_network_policy(policy, pod_labels, container_ports, where):
    """Ingress only through named rules: each with sources and ports, API and metrics apart."""
    errors = []
    spec = policy.get("spec") or {}
    selector = (spec.get("podSelector") or {}).get("matchLabels") or {}
    if not any(_selects(selector, labels) for labels in pod_labels):
        errors.append(f"{where}: podSelector {selector} matches no Deployment's pods")
    if "Ingress" not in (spec.get("policyTypes") or []):
        errors.append(f"{where}: policyTypes lacks Ingress, so the ingress rules do not apply")
    rules = spec.get("ingress") or []
    if not rules:
        errors.append(f"{where}: no ingress rule: every port is closed to everyone")
    for i, rule in enumerate(rules):
        at = f"{where} ingress[{i}]"
        peers = rule.get("from")
        if not peers:
            errors.append(f"{at}: no 'from': the rule admits every source")
        for peer in peers or []:
            if not peer or (peer.get("namespaceSelector") == {} and not peer.get("podSelector")):
                errors.append(f"{at}: peer {peer} admits every pod of every namespace")
        ports = rule.get("ports")
        if not ports:
            errors.append(f"{at}: no 'ports': the rule admits its sources to every port")
            continue
        names = {_port_ref(p.get("port"), container_ports) for p in ports}
        for name in names:
            if name not in container_ports:
                errors.append(f"{at}: port {name!r} is no container port ({sorted(container_ports)})")
        if "metrics" in names and names & set(API_PORTS):
            errors.append(f"{at}: admits the same sources to the metrics and the API ports; "
                          f"monitoring and API clients get rules of their own")
    for name in ("grpc", "http", "metrics"):
        if name in container_ports and not _admits_port(policy, name, container_ports):
            errors.append(f"{where}: no rule admits anyone to the {name} port")
    return errors


LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                       r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
KIND_NAME = re.compile(r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")


def check_inference_pool(pool, where):
    """The InferencePool CRD's validation (inference.networking.k8s.io/v1, the GA API of the
    Gateway API Inference Extension): selector, targetPorts, appProtocol, endpointPickerRef."""
    errors = []
    if pool.get("apiVersion") != "inference.networking.k8s.io/v1":
        errors.append(f"{where}: apiVersion {pool.get('apiVersion')}; the GA API is "
                      f"inference.networking.k8s.io/v1")
    spec = pool.get("spec") or {}
    labels = (spec.get("selector") or {}).get("matchLabels")
    if not isinstance(labels, dict) or not 1 <= len(labels) <= 64:
        errors.append(f"{where}: spec.selector.matchLabels needs 1 to 64 labels, has {labels!r}")
    for key, value in (labels or {}).items():
        if not LABEL_KEY.match(str(key)) or not isinstance(value, str) or len(value) > 63 \
                or not LABEL_VALUE.match(value):
            errors.append(f"{where}: selector label {key}={value!r} is not a valid label")
    ports = spec.get("targetPorts")
    if not isinstance(ports, list) or not 1 <= len(ports) <= 8:
        errors.append(f"{where}: spec.targetPorts needs 1 to 8 ports, has {ports!r}")
    numbers = [p.get("number") if isinstance(p, dict) else None for p in ports or []]
    for n in numbers:
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 65535:
            errors.append(f"{where}: targetPorts number {n!r} is not a port")
    if len(set(map(str, numbers))) != len(numbers):
        errors.append(f"{where}: targetPorts repeat a number: {numbers}")
    if spec.get("appProtocol", "http") not in ("http", "kubernetes.io/h2c"):
        errors.append(f"{where}: appProtocol {spec.get('appProtocol')!r} is not http or kubernetes.io/h2c")
    ref = spec.get("endpointPickerRef")
    if not isinstance(ref, dict):
        errors.append(f"{where}: no endpointPickerRef: the gateway would have no endpoint picker to ask")
        return errors
    if not isinstance(ref.get("name"), str) or not 1 <= len(ref["name"]) <= 253:
        errors.append(f"{where}: endpointPickerRef.name {ref.get('name')!r} is not a name")
    kind = ref.get("kind", "Service")
    if not isinstance(kind, str) or not KIND_NAME.match(kind) or len(kind) > 63:
        errors.append(f"{where}: endpointPickerRef.kind {kind!r} is not a kind")
    port = (ref.get("port") or {}).get("number") if isinstance(ref.get("port"), dict) else None
    if kind == "Service" and port is None:
        errors.append(f"{where}: endpointPickerRef.port.number is required for a Service")
    if port is not None and (not isinstance(port, int) or not 1 <= port <= 65535):
        errors.append(f"{where}: endpointPickerRef.port.number {port!r} is not a port")
    if ref.get("failureMode", "FailClose") not in ("FailOpen", "FailClose"):
        errors.append(f"{where}: endpointPickerRef.failureMode {ref.get('failureMode')!r} is not "
                      f"FailOpen or FailClose")
    return errors


# ---- Schema: the Kubernetes API types of python3-kubernetes, strictly ----------------

# Pseudo-types for what the installed client (API 1.22) lacks: {json key: (type, required)}.
_EXTRA_TYPES = {
    "V1GRPCAction": {"port": ("int", True), "service": ("str", False)},
    "MonitoringEndpoint": {
        "port": ("str", False), "targetPort": ("object", False), "path": ("str", False),
        "scheme": ("str", False), "interval": ("str", False), "scrapeTimeout": ("str", False),
        "honorLabels": ("bool", False), "params": ("object", False),
        "relabelings": ("list[object]", False), "metricRelabelings": ("list[object]", False),
        "tlsConfig": ("object", False), "bearerTokenSecret": ("object", False),
    },
    "ServiceMonitorSpec": {
        "selector": ("V1LabelSelector", True), "endpoints": ("list[MonitoringEndpoint]", True),
        "namespaceSelector": ("object", False), "jobLabel": ("str", False),
        "targetLabels": ("list[str]", False), "podTargetLabels": ("list[str]", False),
        "sampleLimit": ("int", False),
    },
    "PodMonitorSpec": {
        "selector": ("V1LabelSelector", True), "podMetricsEndpoints": ("list[MonitoringEndpoint]", True),
        "namespaceSelector": ("object", False), "jobLabel": ("str", False),
        "podTargetLabels": ("list[str]", False), "sampleLimit": ("int", False),
    },
    # inference.networking.k8s.io/v1 InferencePool (Gateway API Inference Extension); ranges,
    # enums and patterns: check_inference_pool().
    "InferencePool": {"apiVersion": ("str", True), "kind": ("str", True),
                      "metadata": ("V1ObjectMeta", True), "spec": ("InferencePoolSpec", True)},
    "InferencePoolSpec": {
        "selector": ("InferencePoolSelector", True), "targetPorts": ("list[InferencePoolPort]", True),
        "appProtocol": ("str", False), "endpointPickerRef": ("EndpointPickerRef", False),
    },
    "InferencePoolSelector": {"matchLabels": ("dict(str, str)", True)},
    "InferencePoolPort": {"number": ("int", True)},
    "EndpointPickerRef": {
        "group": ("str", False), "kind": ("str", False), "name": ("str", True),
        "port": ("InferencePoolPort", False), "failureMode": ("str", False),
    },
    "ServiceMonitor": {"apiVersion": ("str", True), "kind": ("str", True),
                       "metadata": ("V1ObjectMeta", True), "spec": ("ServiceMonitorSpec", True)},
    "PodMonitor": {"apiVersion": ("str", True), "kind": ("str", True),
                   "metadata": ("V1ObjectMeta", True), "spec": ("PodMonitorSpec", True)},
}
# Fields added to API types after the installed client's version.
_EXTRA_FIELDS = {"V1Probe": {"grpc": ("V1GRPCAction", False)}}
_ROOT_TYPES = {
    ("v1", "Service"): "V1Service", ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "Secret"): "V1Secret", ("v1", "ConfigMap"): "V1ConfigMap",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
    ("inference.networking.k8s.io/v1", "InferencePool"): "InferencePool",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    # autoscaling/v2 is v2beta2 made GA with the same fields.
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "V2beta2HorizontalPodAutoscaler",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "ServiceMonitor",
    ("monitoring.coreos.com/v1", "PodMonitor"): "PodMonitor",
}
# Resource quantities are strings in the API types but YAML numbers are accepted.
_QUANTITY_KEYS = {"limits", "requests", "sizeLimit"}


class Schema:
    """Validates objects against python3-kubernetes' model classes (import it lazily)."""

    def __init__(self):
        import kubernetes.client  # noqa: PLC0415 - optional dependency
        self._client = kubernetes.client
        self._fields = {}

    def _type_fields(self, type_name):
        """{json key: (type, required)} of an API type or pseudo-type."""
        if type_name in self._fields:
            return self._fields[type_name]
        if type_name in _EXTRA_TYPES:
            fields = dict(_EXTRA_TYPES[type_name])
        else:
            cls = getattr(self._client, type_name)
            probe = cls.__new__(cls)
            config = self._client.Configuration()
            config.client_side_validation = True
            probe.local_vars_configuration = config
            fields = {}
            for attr, json_key in cls.attribute_map.items():
                try:
                    setattr(probe, attr, None)
                    required = False
                except ValueError:
                    required = True
                fields[json_key] = (cls.openapi_types[attr], required)
        fields.update(_EXTRA_FIELDS.get(type_name, {}))
        self._fields[type_name] = fields
        return fields

    def validate(self, obj, source):
        key = (obj.get("apiVersion"), obj.get("kind"))
        where = f"{source}: {key[1]} {_name(obj)}"
        if key not in _ROOT_TYPES:
            return [f"{where}: no schema for {key[0]}/{key[1]}"]
        errors = []
        self._check(obj, _ROOT_TYPES[key], where, "", errors)
        return errors

    def _check(self, value, type_name, where, path, errors, quantity=False):
        at = f"{where} at {path or '/'}"
        quantity = quantity or path.rsplit("/", 1)[-1] in _QUANTITY_KEYS
        if type_name == "object":
            return
        if type_name.startswith("list["):
            if not isinstance(value, list):
                errors.append(f"{at}: expected a list, got {type(value).__name__}")
                return
            for i, item in enumerate(value):
                self._check(item, type_name[5:-1], where, f"{path}/{i}", errors)
            return
        if type_name.startswith("dict("):
            if not isinstance(value, dict):
                errors.append(f"{at}: expected a mapping, got {type(value).__name__}")
                return
            inner = type_name[5:-1].split(",", 1)[1].strip()
            for k, v in value.items():
                self._check(v, inner, where, f"{path}/{k}", errors, quantity)
            return
        if type_name == "str" or type_name == "datetime":
            if isinstance(value, str) or (quantity and isinstance(value, (int, float))
                                          and not isinstance(value, bool)):
                return
            errors.append(f"{at}: expected a string, got {value!r}")
            return
        if type_name == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                errors.append(f"{at}: expected an integer, got {value!r}")
            return
        if type_name == "float":
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                errors.append(f"{at}: expected a number, got {value!r}")
            return
        if type_name == "bool":
            if not isinstance(value, bool):
                errors.append(f"{at}: expected true or false, got {value!r}")
            return
        if not isinstance(value, dict):
            errors.append(f"{at}: expected a {type_name} mapping, got {type(value).__name__}")
            return
        fields = self._type_fields(type_name)
        for k, v in value.items():
            if k not in fields:
                errors.append(f"{at}: unknown field {k!r} in {type_name}")
                continue
            if v is None:
                continue
            self._check(v, fields[k][0], where, f"{path}/{k}", errors)
        for k, (_, required) in fields.items():
            if required and k not in value:
                errors.append(f"{at}: {type_name} lacks the required field {k!r}")


def check_schema(objects, source):
    """Schema errors of every object; raises ImportError without python3-kubernetes."""
    schema = Schema()
    errors = []
    for obj in objects:
        errors += schema.validate(obj, source)
    return errors
