"""Operations checks against the real things: a live `tandem serve` scrape through
`promtool check metrics`, the dashboards' and alert rules' queries against that scrape,
a real Prometheus server scraping the server until its counters move, `promtool check
config/rules`, and the Kubernetes manifests rendered by `kubectl kustomize`, validated
by kubernetes-validate and checked against the flags and ports the binary accepts.

    test_ops.py metrics BUILD_DIR SHARED_DIR
    test_ops.py config
    test_ops.py k8s BUILD_DIR
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

# What the operations issue asks every deployment to export.
REQUIRED_METRICS = [
    "tandem_requests_total", "tandem_queue_depth", "tandem_time_to_first_token_seconds",
    "tandem_time_per_output_token_seconds", "tandem_request_duration_seconds", "tandem_generated_tokens_total",
    "tandem_draft_tokens_total", "tandem_accepted_tokens_total", "tandem_accepted_tokens_per_pass",
    "tandem_draft_depth_proposed_total", "tandem_draft_depth_accepted_total", "tandem_verifier_busy_seconds_total",
    "tandem_verifier_idle_seconds_total", "tandem_drafter_busy_seconds_total", "tandem_drafter_idle_seconds_total",
    "tandem_batch_requests", "tandem_kv_cache_used_bytes", "tandem_kv_cache_capacity_bytes",
    "tandem_channel_bytes_total", "tandem_channel_message_latency_seconds", "tandem_prefix_cache_hits_total",
    "tandem_prefix_cache_hit_tokens_total", "tandem_prefix_cache_evictions_total", "tandem_prefix_cache_bytes",
    "tandem_prefix_cache_budget_bytes", "tandem_auto_passes_total", "tandem_auto_step_seconds",
    "tandem_auto_cost_scale", "process_resident_memory_bytes",
    "process_cpu_seconds_total",
]
PROMQL_WORDS = {"sum", "rate", "by", "le", "histogram_quantile", "max", "and", "or", "up", "without", "on"}


def fail(message):
    sys.exit("FAIL: " + message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def exported_names(scrape):
    """Metric names in a text exposition, with histograms' _bucket/_sum/_count folded to the base name too."""
    names = set()
    for line in scrape.splitlines():
        if line and not line.startswith("#"):
            name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            names.add(name)
            names.add(re.sub(r"_(bucket|sum|count)$", "", name))
    return names


def query_metric_names(expr):
    """Metric names a PromQL expression refers to (ours and the standard process_/up ones)."""
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    return {w for w in re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", expr)
            if w.startswith(("tandem_", "process_"))}


def start_serve(build, shared, tmp):
    stories = os.path.join(shared, "data", "models", "stories260K", "model.bin")
    endpoint_file = os.path.join(tmp, "endpoint")
    server = subprocess.Popen([os.path.join(build, "tandem"), "serve", "--model", stories, "--draft-model", stories,
                               "--listen", "tcp://127.0.0.1:0", "--http", "127.0.0.1:0", "--threads", "1",
                               "--endpoint-file", endpoint_file], stdout=subprocess.DEVNULL)
    for _ in range(300):
        if os.path.exists(endpoint_file) and len(open(endpoint_file).read().split()) == 3:
            break
        if server.poll() is not None:
            fail("tandem serve exited early")
        time.sleep(0.1)
    endpoint, http, _ = open(endpoint_file).read().split()
    return server, endpoint, http


MODES = ["chain", "ar", "tree", "auto"]


def send_requests(endpoint):
    """One request in each of MODES."""
    from tandem_client import Client
    with Client(endpoint) as client:
        for mode in MODES:
            client.generate("Once upon a time", max_tokens=12, mode=mode)


def auto_passes(scrape):
    """tandem_auto_passes_total by drafter label."""
    found = re.findall(r'^tandem_auto_passes_total\{drafter="([a-z]+)"\} (\S+)$', scrape, re.M)
    return {drafter: float(value) for drafter, value in found}


def check_scrape(http):
    scrape = get(http + "/metrics")
    lint = subprocess.run(["promtool", "check", "metrics"], input=scrape, capture_output=True, text=True)
    if lint.returncode != 0:
        fail("promtool check metrics on a live scrape:\n" + lint.stdout + lint.stderr)
    names = exported_names(scrape)
    missing = [m for m in REQUIRED_METRICS if m not in names]
    if missing:
        fail("metrics missing from the scrape: " + ", ".join(missing))
    # Every dashboard and alert query names only metrics the server exports.
    queries = []
    for path in sorted(os.listdir(os.path.join(ROOT, "dashboards"))):
        if path.endswith(".json"):
            for panel in json.load(open(os.path.join(ROOT, "dashboards", path)))["panels"]:
                queries += [(f"{path}: {panel['title']}", t["expr"]) for t in panel["targets"]]
    import yaml
    for group in yaml.safe_load(open(os.path.join(ROOT, "deploy", "prometheus", "rules.yml")))["groups"]:
        queries += [(f"rules.yml: {r['alert']}", r["expr"]) for r in group["rules"]]
    if len(queries) < 20:
        fail(f"only {len(queries)} queries found in dashboards/ and rules.yml")
    for where, expr in queries:
        unknown = query_metric_names(expr) - names
        if unknown:
            fail(f"{where} queries metrics the server does not export: {sorted(unknown)}")
    # The auto request's passes (11 after the prefill's token, fewer when it drafted) are each counted once.
    passes = auto_passes(scrape)
    if not 1 <= sum(passes.values()) <= 11 or not set(passes) <= {"ar", "lookup", "recycle", "chain"}:
        fail(f"tandem_auto_passes_total after one 12-token auto request: {passes}")
    # Auto timed its plain passes alone: a step of a microsecond (the tiny model) to a few seconds.
    step = re.search(r"^tandem_auto_step_seconds (\S+)$", scrape, re.M)
    if not step or not 1e-6 <= float(step.group(1)) <= 5:
        fail(f"tandem_auto_step_seconds after one auto request: {step.group(1) if step else 'absent'}")
    print(f"scrape: promtool clean, {len(REQUIRED_METRICS)} required metrics present, "
          f"{len(queries)} dashboard and alert queries name only exported metrics, auto's passes {passes}, "
          f"its step {float(step.group(1)) * 1e3:.1f} ms")
    return scrape


def prometheus_value(port, query):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    result = json.loads(get(url))["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def check_real_prometheus(http, endpoint, tmp):
    port = free_port()
    config = os.path.join(tmp, "prometheus.yml")
    open(config, "w").write("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tandem-local\n"
                            f"    static_configs:\n      - targets: ['{http.replace('http://', '')}']\n")
    prometheus = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp}/tsdb",
                                   f"--web.listen-address=127.0.0.1:{port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        query = 'sum(tandem_requests_total{outcome="finished"})'
        def wait_for(minimum):
            for _ in range(120):
                try:
                    value = prometheus_value(port, query)
                except OSError:
                    value = None
                if value is not None and value >= minimum:
                    return value
                time.sleep(0.5)
            fail(f"Prometheus never saw {query} >= {minimum}")
        before = wait_for(len(MODES))
        send_requests(endpoint)
        after = wait_for(before + len(MODES))
        generated = prometheus_value(port, "sum(tandem_generated_tokens_total)")
        if not generated or generated <= 0:
            fail("Prometheus sees no generated tokens")
        print(f"prometheus: finished requests {before:.0f} -> {after:.0f}, generated tokens {generated:.0f}")
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)


def metrics_check(build, shared):
    with tempfile.TemporaryDirectory() as tmp:
        server, endpoint, http = start_serve(build, shared, tmp)
        try:
            send_requests(endpoint)
            check_scrape(http)
            check_real_prometheus(http, endpoint, tmp)
        finally:
            server.terminate()
            server.wait(timeout=60)


def config_check():
    for args in (["check", "config", "deploy/prometheus/prometheus.yml"], ["check", "rules", "deploy/prometheus/rules.yml"]):
        r = subprocess.run(["promtool"] + args, cwd=ROOT, capture_output=True, text=True)
        if r.returncode != 0:
            fail(" ".join(args) + ":\n" + r.stdout + r.stderr)
    print("promtool: config and rules valid")


def node_flags(build):
    help_text = subprocess.run([os.path.join(build, "tandem"), "node", "--help"], capture_output=True, text=True).stdout
    return set(re.findall(r"^  --([a-z-]+)", help_text, re.M))


def port_of(value):
    return int(value.rsplit(":", 1)[1])


def k8s_check(build):
    import kubernetes_validate
    import yaml
    flags = node_flags(build)
    if "role" not in flags:
        fail("could not read the flags of `tandem node --help`")
    conf = open(os.path.join(ROOT, "deploy", "k8s", "base", "cluster.conf")).read()
    keys = [line.split("=")[0].strip() for line in conf.splitlines() if line.strip() and not line.startswith("#")]
    unknown = [k for k in keys if k not in flags]
    if unknown:
        fail(f"cluster.conf sets flags tandem node does not have: {unknown}")
    for overlay in ("cpu", "gpu"):
        rendered = subprocess.run(["kubectl", "kustomize", os.path.join(ROOT, "deploy", "k8s", "overlays", overlay)],
                                  capture_output=True, text=True)
        if rendered.returncode != 0:
            fail(f"kubectl kustomize {overlay}: {rendered.stderr}")
        docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, "1.31.0", strict=True)
            except Exception as e:  # noqa: BLE001 - its errors have several types
                fail(f"{overlay}: {doc['kind']} {doc['metadata']['name']} is not valid: {e}")
        services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
        workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
        if {w["metadata"]["name"] for w in workloads} != {"tandem-scheduler", "tandem-verifier", "tandem-drafter",
                                                          "tandem-shard"}:
            fail(f"{overlay}: expected scheduler, verifier, drafter and shard workloads")
        for w in workloads:
            check_workload(overlay, w, flags, services)
        check_network_policies(overlay, docs, workloads)
        check_cluster_tls(overlay, conf, workloads)
        print(f"k8s {overlay}: {len(docs)} objects valid; args, ports, probes, labels and config agree with the binary")
    check_cluster_secret(build)
    check_client_secret(build, workloads)


def role_of(workload):
    args = workload["spec"]["template"]["spec"]["containers"][0]["args"]
    return args[args.index("--role") + 1]


def check_cluster_tls(overlay, conf, workloads):
    """cluster.conf names certificate files inside the mounted Secret tandem-cluster-tls-ROLE, in every pod."""
    settings = {name.strip(): value.strip() for name, value in
                (line.split("=", 1) for line in conf.splitlines() if "=" in line and not line.startswith("#"))}
    paths = [settings.get(k, "") for k in ("cluster-ca", "cluster-cert", "cluster-key")]
    if not all(paths):
        fail("cluster.conf does not set cluster-ca, cluster-cert and cluster-key")
    for w in workloads:
        pod = w["spec"]["template"]["spec"]
        secret = f"tandem-cluster-tls-{role_of(w)}"
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        mounts = [m for m in pod["containers"][0].get("volumeMounts", [])
                  if volumes.get(m["name"], {}).get("secret", {}).get("secretName") == secret]
        if not any(all(p.startswith(m["mountPath"].rstrip("/") + "/") for p in paths) for m in mounts):
            fail(f"{overlay}: {w['metadata']['name']} does not mount {secret} where cluster.conf looks")
        if role_of(w) != "scheduler" and w["metadata"]["name"] != f"tandem-{role_of(w)}":
            fail(f"{overlay}: {w['metadata']['name']}'s pods are not named tandem-{role_of(w)}-*, "
                 "the names its certificate binds")


def check_cluster_secret(build):
    """deploy/k8s/cluster-secret.sh makes one valid Secret per role whose certificate verifies against
    its CA and binds that role's pod names (tandem-ROLE-*), the scheduler's none."""
    import base64
    import kubernetes_validate
    import yaml
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TANDEM=os.path.join(build, "tandem"))
        made = subprocess.run([os.path.join(ROOT, "deploy", "k8s", "cluster-secret.sh"), os.path.join(tmp, "keys")],
                              capture_output=True, text=True, env=env)
        if made.returncode != 0:
            fail(f"cluster-secret.sh: {made.stderr}")
        secrets = {s["metadata"]["name"]: s for s in yaml.safe_load_all(made.stdout) if s}
        roles = ["scheduler", "verifier", "drafter", "shard"]
        if sorted(secrets) != sorted(f"tandem-cluster-tls-{r}" for r in roles):
            fail(f"cluster-secret.sh made {sorted(secrets)}")
        for role in roles:
            secret = secrets[f"tandem-cluster-tls-{role}"]
            kubernetes_validate.validate(secret, "1.31.0", strict=True)
            if set(secret["data"]) != {"ca.crt", "node.crt", "node.key"}:
                fail(f"tandem-cluster-tls-{role} holds {sorted(secret['data'])}")
            for name, value in secret["data"].items():
                with open(os.path.join(tmp, f"{role}-{name}"), "wb") as f:
                    f.write(base64.b64decode(value))
            verified = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(tmp, f"{role}-ca.crt"),
                                       os.path.join(tmp, f"{role}-node.crt")], capture_output=True, text=True)
            if verified.returncode != 0:
                fail(f"{role}'s node.crt does not verify against its ca.crt: {verified.stdout}{verified.stderr}")
            text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                                   os.path.join(tmp, f"{role}-node.crt")], capture_output=True, text=True).stdout
            bound = re.findall(r"URI:tandem-node:(\S+?)(?:,|$)", text, re.M)
            expected = [] if role == "scheduler" else [f"{role}/tandem-{role}-*"]
            if bound != expected:
                fail(f"{role}'s certificate binds {bound}, not {expected}")
    print("k8s: cluster-secret.sh makes a valid Secret per role; each certificate verifies and binds its pods' names")


def check_client_secret(build, workloads):
    """client-secret.sh makes the Secret the scheduler mounts, with every file its args name, an
    HTTPS certificate for tandem-scheduler of the cluster CA, and the scheduler runs without --insecure."""
    import base64
    import kubernetes_validate
    import yaml
    scheduler = next(w for w in workloads if w["metadata"]["name"] == "tandem-scheduler")
    pod = scheduler["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    if "--insecure" in args:
        fail("the scheduler runs with --insecure")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mount = next((m["mountPath"].rstrip("/") for m in pod["containers"][0].get("volumeMounts", [])
                  if volumes.get(m["name"], {}).get("secret", {}).get("secretName") == "tandem-client-keys"), None)
    if mount is None:
        fail("the scheduler does not mount the Secret tandem-client-keys")
    flags = ["--curve-secret-key", "--curve-authorized-keys", "--api-keys-file", "--http-tls-cert", "--http-tls-key"]
    wanted = {}
    for flag in flags:
        if flag not in args or not args[args.index(flag) + 1].startswith(mount + "/"):
            fail(f"the scheduler's {flag} is not a file of tandem-client-keys ({mount})")
        wanted[flag] = args[args.index(flag) + 1][len(mount) + 1:]
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TANDEM=os.path.join(build, "tandem"))
        keys = os.path.join(tmp, "keys")
        for script in ("cluster-secret.sh", "client-secret.sh"):
            made = subprocess.run([os.path.join(ROOT, "deploy", "k8s", script), keys], capture_output=True, text=True,
                                  env=env)
            if made.returncode != 0:
                fail(f"{script}: {made.stderr}")
        secret = yaml.safe_load(made.stdout)
        kubernetes_validate.validate(secret, "1.31.0", strict=True)
        if secret["metadata"]["name"] != "tandem-client-keys" or not set(wanted.values()) <= set(secret["data"]):
            fail(f"client-secret.sh made {secret['metadata']['name']} with {sorted(secret['data'])}, "
                 f"the scheduler needs {sorted(wanted.values())}")
        for name, value in secret["data"].items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(base64.b64decode(value))
        verified = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(keys, "ca.crt"), "-verify_hostname",
                                   "tandem-scheduler", os.path.join(tmp, "http.crt")], capture_output=True, text=True)
        if verified.returncode != 0:
            fail(f"http.crt is not valid for tandem-scheduler: {verified.stdout}{verified.stderr}")
        # A scheduler started with the Secret's files (on loopback, the tiny model) serves HTTPS
        # that verifies against the cluster CA.
        endpoint_file = os.path.join(tmp, "ep")
        scheduler = subprocess.Popen(
            [os.path.join(build, "tandem"), "node", "--role", "scheduler", "--model",
             os.path.join(ROOT, "..", "shared", "data", "models", "stories260K", "model.bin"),
             "--listen", "tcp://127.0.0.1:0", "--http", "127.0.0.1:0", "--control", "127.0.0.1:0",
             "--endpoint-file", endpoint_file] + [x for flag in flags for x in (flag, os.path.join(tmp, wanted[flag]))],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(300):
                if os.path.exists(endpoint_file) and len(open(endpoint_file).read().split()) >= 3:
                    break
                if scheduler.poll() is not None:
                    fail(f"the scheduler refused the Secret's files: {scheduler.stderr.read()}")
                time.sleep(0.1)
            https = open(endpoint_file).read().split()[1]
            import ssl
            import urllib.request
            context = ssl.create_default_context(cafile=os.path.join(keys, "ca.crt"))
            context.check_hostname = False  # the address is 127.0.0.1; the name was checked by openssl above
            health = json.load(urllib.request.urlopen(https + "/health", context=context, timeout=10))
            if not https.startswith("https://") or health.get("status") != "ok":
                fail(f"the scheduler with the Secret's files: {https} answered {health}")
        finally:
            scheduler.terminate()
            scheduler.wait(timeout=30)
    print("k8s: client-secret.sh makes tandem-client-keys with every file the scheduler's args name; "
          "its HTTPS certificate verifies for tandem-scheduler; no pod runs with --insecure")


def check_network_policies(overlay, docs, workloads):
    """Ingress is denied by default, and each workload's ports are opened by a policy of its own."""
    policies = [d["spec"] for d in docs if d["kind"] == "NetworkPolicy"]
    if not any(p["podSelector"] == {} and p.get("policyTypes") == ["Ingress"] and not p.get("ingress")
               for p in policies):
        fail(f"{overlay}: no default-deny ingress NetworkPolicy")
    for w in workloads:
        pod = w["spec"]["template"]
        component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
        own = [p for p in policies
               if p["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component") == component]
        opened = {port["port"] for p in own for rule in p.get("ingress", []) for port in rule.get("ports", [])}
        for port in pod["spec"]["containers"][0].get("ports", []):
            if port["containerPort"] not in opened:
                fail(f"{overlay}: no NetworkPolicy admits {component}'s port {port['containerPort']}")
        if component != "scheduler" and any("from" not in rule for p in own for rule in p.get("ingress", [])):
            fail(f"{overlay}: a NetworkPolicy opens a {component} port to everyone")


def check_workload(overlay, w, flags, services):
    name = w["metadata"]["name"]
    where = f"{overlay}: {name}"
    pod = w["spec"]["template"]
    labels = pod["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in w["spec"]["selector"]["matchLabels"].items()):
        fail(f"{where}: its selector does not match its pod labels")
    container = pod["spec"]["containers"][0]
    args = container["args"]
    given = {args[i][2:]: args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--") else ""
             for i in range(len(args)) if args[i].startswith("--")}
    unknown = [f for f in given if f not in flags]
    if args[0] != "node" or unknown:
        fail(f"{where}: args must be `node` and flags of tandem node; unknown: {unknown}")
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    if port_of(given["http"]) not in ports.values():
        fail(f"{where}: --http port {given['http']} is not a container port")
    if "listen" in given and port_of(given["listen"]) not in ports.values():
        fail(f"{where}: --listen port is not a container port")
    if "control" in given and port_of(given["control"]) not in ports.values():
        fail(f"{where}: --control port is not a container port")
    if "scheduler" in given:
        host, port = given["scheduler"].split(":")
        if host not in services or int(port) not in [p["port"] for p in services[host]["spec"]["ports"]]:
            fail(f"{where}: --scheduler {given['scheduler']} is not a Service port")
    annotations = pod["metadata"].get("annotations", {})
    if int(annotations.get("prometheus.io/port", -1)) != port_of(given["http"]):
        fail(f"{where}: prometheus.io/port is not the --http port")
    for probe, path in (("livenessProbe", "/health"), ("readinessProbe", "/ready")):
        get_ = container[probe]["httpGet"]
        if get_["path"] != path or get_["port"] not in ports:
            fail(f"{where}: {probe} must GET {path} on a named container port")
    if pod["spec"].get("terminationGracePeriodSeconds", 30) * 1000 < 10000:
        fail(f"{where}: too little termination grace to drain")
    if overlay == "gpu" and name not in ("tandem-scheduler", "tandem-shard") and \
            "nvidia.com/gpu" not in container["resources"].get("limits", {}):
        fail(f"{where}: no nvidia.com/gpu in the gpu overlay")
    for s in services.values():
        selector = s["spec"].get("selector", {})
        if selector.get("app.kubernetes.io/component") == labels.get("app.kubernetes.io/component"):
            for p in s["spec"]["ports"]:
                if p["targetPort"] not in ports:
                    fail(f"{overlay}: Service {s['metadata']['name']} targets port {p['targetPort']} that {name} lacks")


# Linked from the base image itself (debian:12-slim has them) or only by a CUDA build.
BASE_LIBRARIES = {"libc6", "libstdc++6", "libgcc-s1"}


def image_libraries_check(build):
    """The Dockerfile's runtime stage installs the package of every library build/tandem
    needs (the image once failed to start for want of libcaf-openssl)."""
    dockerfile = open(os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "Dockerfile")).read()
    runtime = dockerfile.split("AS cpu", 1)[1].split("COPY", 1)[0]
    listed = set(re.findall(r"\b(lib[a-z0-9.+-]+)", runtime))
    needed = subprocess.run(["readelf", "-d", os.path.join(build, "tandem")], capture_output=True, text=True,
                            check=True).stdout
    for library in re.findall(r"Shared library: \[(.+?)\]", needed):
        if library.startswith(("libcudart", "libnccl", "libcuda")):
            continue  # a CUDA build: the cuda stage adds its runtime
        owners = subprocess.run(["dpkg", "-S", f"*/{library}"], capture_output=True, text=True).stdout
        packages = {line.split(":")[0] for line in owners.splitlines() if line.strip()}
        if not packages & (listed | BASE_LIBRARIES | {"libc6-i386"}):
            fail(f"deploy/Dockerfile's runtime stage installs none of {sorted(packages)} for {library}")
    print(f"image: the runtime stage installs every library build/tandem links ({len(listed)} packages listed)")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "image":
        image_libraries_check(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "metrics":
        metrics_check(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 2 and sys.argv[1] == "config":
        config_check()
    elif len(sys.argv) >= 3 and sys.argv[1] == "k8s":
        k8s_check(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
