#!/usr/bin/env python3
"""check_manifests.py — the deployment files agree with each other and with
the server (run by manifests_test.sh).

    check_manifests.py ROOT SERVE_HELP_FILE

ROOT holds Dockerfile, docker/compose.yaml, docker/prometheus.yml,
docker/k8s/*.yaml and docs/deploy.md; SERVE_HELP_FILE is the output of
`ctgi serve --help`, the source of the option variables and of the default
graceful-termination timeout.  Prints one TAP line per check; exits 1 if
any fails.
"""
import glob
import os
import re
import shlex
import sys

import yaml

# variables the image reads that are not `ctgi serve` options
NON_SERVE_ENV = {"HF_HOME", "HF_TOKEN", "HF_HUB_OFFLINE"}


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, name, problems):
        """problems: list of strings; empty = ok."""
        self.n += 1
        if problems:
            self.failed += 1
            print(f"not ok {self.n} - {name}: " + "; ".join(problems))
        else:
            print(f"ok {self.n} - {name}")


# ---- readers -------------------------------------------------------------------------------

def dockerfile(path):
    """The final stage's instructions as (KEYWORD, text) pairs, continuations joined."""
    lines, cur = [], ""
    with open(path) as f:
        for raw in f:
            s = raw.rstrip("\n")
            if not cur and s.lstrip().startswith("#"):
                continue
            if cur and s.lstrip().startswith("#"):
                continue
            if s.endswith("\\"):
                cur += s[:-1] + " "
                continue
            cur += s
            if cur.strip():
                lines.append(cur.strip())
            cur = ""
    stages, stage = [], []
    for ln in lines:
        kw, _, rest = ln.partition(" ")
        if kw.upper() == "FROM" and stage:
            stages.append(stage)
            stage = []
        stage.append((kw.upper(), rest.strip()))
    stages.append(stage)
    return stages[-1]


def docker_env(instrs):
    env = {}
    for kw, rest in instrs:
        if kw == "ENV":
            for tok in shlex.split(rest):
                k, _, v = tok.partition("=")
                env[k] = v
    return env


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def cpu(q):
    q = str(q)
    return float(q[:-1]) / 1000 if q.endswith("m") else float(q)


def mem(q):
    q = str(q)
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    for u, m in units.items():
        if q.endswith(u):
            return float(q[: -len(u)]) * m
    return float(q)


def duration(s):
    """compose durations: 100s, 1m40s, 2m."""
    total, found = 0.0, False
    for num, unit in re.findall(r"([\d.]+)(h|ms|m|s|us)", str(s)):
        found = True
        total += float(num) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}[unit]
    return total if found else float(s)


def env_map(container):
    return {e["name"]: e for e in container.get("env", [])}


def env_source(e):
    """An env entry's value, or a description of where it comes from."""
    if "value" in e:
        return ("value", str(e["value"]))
    vf = e.get("valueFrom", {})
    if "configMapKeyRef" in vf:
        r = vf["configMapKeyRef"]
        return ("configMap", r.get("name"), r.get("key"))
    if "resourceFieldRef" in vf:
        r = vf["resourceFieldRef"]
        return ("resource", r.get("resource"))
    return ("other", repr(vf))


# ---- loading -------------------------------------------------------------------------------

class Tree:
    """Everything the checks read, parsed once."""


def load(t, root, help_file):
    """A Tree, or None after a failed check line."""
    m = Tree()
    m.root = root
    help_text = open(help_file).read()
    m.serve_env = set(re.findall(r"\[env ([A-Z0-9_]+);", help_text))
    g = re.search(r"\[env GRACEFUL_TERMINATION_TIMEOUT; default: ([\d.]+)\]", help_text)
    t.check("ctgi serve --help names its variables and the graceful-termination default",
            [] if m.serve_env and g else ["cannot read them from " + help_file])
    if not (m.serve_env and g):
        return None
    m.server_grace = float(g.group(1))

    m.files = sorted(glob.glob(os.path.join(root, "docker", "k8s", "*.yaml")))
    m.objs, problems, m.compose, m.prom = [], [], None, None
    for p in m.files + [os.path.join(root, "docker", "compose.yaml"), os.path.join(root, "docker", "prometheus.yml")]:
        try:
            docs = load_yaml_docs(p)
        except (OSError, yaml.YAMLError) as e:
            problems.append(f"{os.path.relpath(p, root)}: {e}")
            continue
        if p.endswith("compose.yaml"):
            m.compose = docs[0] if docs else None
        elif p.endswith("prometheus.yml"):
            m.prom = docs[0] if docs else None
        else:
            m.objs += [(os.path.basename(p), d) for d in docs]
    t.check(f"the YAML parses ({len(m.files)} Kubernetes files, compose, prometheus)", problems)
    if problems or not m.compose or not m.prom:
        return None

    def kind(k):
        found = [d for _, d in m.objs if d.get("kind") == k]
        return found[0] if len(found) == 1 else None

    m.dep, m.svc, m.hpa = kind("Deployment"), kind("Service"), kind("HorizontalPodAutoscaler")
    t.check("one Deployment, one Service, one HorizontalPodAutoscaler",
            [f"{k} missing or not unique" for k, o in
             (("Deployment", m.dep), ("Service", m.svc), ("HorizontalPodAutoscaler", m.hpa)) if o is None])
    if not (m.dep and m.svc and m.hpa):
        return None
    m.pod = m.dep["spec"]["template"]
    m.spec = m.pod["spec"]
    mains = [c for c in m.spec.get("containers", []) if c.get("name") == "ctgi"]
    m.inits = m.spec.get("initContainers", [])
    m.main = mains[0] if mains else m.spec["containers"][0]
    m.menv = env_map(m.main)
    m.cports = {p.get("name"): p["containerPort"] for p in m.main.get("ports", [])}
    m.cport = next(iter(m.cports.values()), None)
    m.ctgi = m.compose["services"]["ctgi"]
    m.cenv = m.ctgi.get("environment", {})
    m.prom_targets = [tg for sc in m.prom.get("scrape_configs", []) for s in sc.get("static_configs", [])
                      for tg in s.get("targets", [])]

    m.df = dockerfile(os.path.join(root, "Dockerfile"))
    m.denv = docker_env(m.df)
    m.d_user = next((r for k, r in m.df if k == "USER"), "")
    m.d_uid = m.d_user.split(":")[0]
    m.hf_home = m.denv.get("HF_HOME")
    return m


# ---- the checks: each returns its problems, none = ok ----------------------------------------

def check_dockerfile(m):
    problems = []
    d_vol = " ".join(r for k, r in m.df if k == "VOLUME")
    d_hc = " ".join(r for k, r in m.df if k == "HEALTHCHECK")
    if not m.d_uid.isdigit() or m.d_uid == "0":
        problems.append(f"USER '{m.d_user}' is not a numeric non-root uid (Kubernetes' runAsNonRoot needs a number)")
    if not re.search(r"CMD .*ctgi.*health", d_hc):
        problems.append(f"HEALTHCHECK does not run `ctgi health`: '{d_hc}'")
    if not m.hf_home or m.hf_home not in d_vol:
        problems.append(f"HF_HOME={m.hf_home} is not a VOLUME ({d_vol})")
    if "MODEL_ID" not in m.denv:
        problems.append("no ENV MODEL_ID")
    return problems


def check_image(m):
    names = {}
    for c in m.spec.get("containers", []) + m.inits:
        names.setdefault(c.get("image"), []).append(f"k8s {c.get('name')}")
    names.setdefault(m.ctgi.get("image"), []).append("compose")
    for doc in ("docs/deploy.md", "Dockerfile"):
        for tag in re.findall(r"docker build -t (\S+)", open(os.path.join(m.root, doc)).read()):
            names.setdefault(tag, []).append(doc)
    return [] if len(names) == 1 else [f"{n}: {', '.join(w)}" for n, w in names.items()]


def check_ports(m):
    svc_ports = m.svc["spec"].get("ports", [])
    tgt = svc_ports[0].get("targetPort") if svc_ports else None
    tgt = m.cports.get(tgt, tgt) if isinstance(tgt, str) else tgt
    cmp_target = str(m.ctgi.get("ports", [""])[0]).rsplit(":", 1)[-1].split("/")[0]
    port = m.denv.get("PORT")
    seen = {
        "containerPort": str(m.cport),
        "Service targetPort": str(tgt),
        "EXPOSE": ",".join(p.split("/")[0] for k, r in m.df if k == "EXPOSE" for p in r.split()),
        "Dockerfile ENV PORT": port,
        "Deployment PORT": m.menv.get("PORT", {}).get("value", port),
        "compose port target": cmp_target,
        "compose PORT": str(m.cenv.get("PORT", port)),
        "prometheus target": ",".join(tg.rsplit(":", 1)[-1] for tg in m.prom_targets),
        "prometheus.io/port": m.pod.get("metadata", {}).get("annotations", {}).get("prometheus.io/port"),
    }
    return [] if len(set(seen.values())) == 1 else [f"{k}={v}" for k, v in seen.items()]


def check_probes(m):
    problems = []
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        pr = m.main.get(probe)
        if not pr or "httpGet" not in pr:
            problems.append(f"no {probe} httpGet")
            continue
        g = pr["httpGet"]
        port = m.cports.get(g.get("port"), g.get("port"))
        if g.get("path") != "/health" or port != m.cport:
            problems.append(f"{probe} probes {g.get('path')} on port {g.get('port')}")
    st = m.main.get("startupProbe", {})
    budget = st.get("periodSeconds", 10) * st.get("failureThreshold", 3)
    if budget < 300:
        problems.append(f"the startup probe allows only {budget} s for the model to load")
    return problems


def check_init(m):
    problems = []
    main_mounts = {v["mountPath"]: v["name"] for v in m.main.get("volumeMounts", [])}
    dl = [c for c in m.inits if "download" in (c.get("command", []) + c.get("args", []))]
    if not dl:
        problems.append("no init container runs `ctgi download`")
    for c in dl:
        argv = c.get("command", []) + c.get("args", [])
        i = argv.index("download")
        if argv[i + 1:] != ["$(MODEL_ID)"]:
            problems.append(f"{c['name']}: download of {argv[i + 1:]} instead of $(MODEL_ID)")
        if c.get("command") and "ctgi" not in " ".join(c["command"]):
            problems.append(f"{c['name']}: command {c['command']} is not ctgi")
        ienv = env_map(c)
        for var in ("MODEL_ID", "HF_HOME"):
            if var not in ienv or var not in m.menv:
                problems.append(f"{var} missing in {c['name']} or ctgi")
            elif env_source(ienv[var]) != env_source(m.menv[var]):
                problems.append(f"{var}: {env_source(ienv[var])} vs {env_source(m.menv[var])}")
        if m.menv.get("HF_HOME", {}).get("value") != m.hf_home:
            problems.append(f"HF_HOME is not the image's {m.hf_home}")
        imounts = {v["mountPath"]: v["name"] for v in c.get("volumeMounts", [])}
        if m.hf_home not in imounts or imounts.get(m.hf_home) != main_mounts.get(m.hf_home):
            problems.append(f"{c['name']} and ctgi do not share a volume at {m.hf_home}")
    return problems


def grace_periods(m):
    """(Kubernetes grace, preStop sleep, drain, compose grace, compose drain)"""
    gte = m.menv.get("GRACEFUL_TERMINATION_TIMEOUT")
    gt = float(gte["value"]) if gte and "value" in gte else m.server_grace
    pre = m.main.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pre_s = float(pre[1]) if len(pre) == 2 and pre[0] == "sleep" else 0.0
    cgt = float(m.cenv.get("GRACEFUL_TERMINATION_TIMEOUT", m.server_grace))
    sgp = duration(m.ctgi.get("stop_grace_period", "10s"))
    return m.spec.get("terminationGracePeriodSeconds", 30), pre_s, gt, sgp, cgt


def check_grace(m):
    tg, pre_s, gt, sgp, cgt = grace_periods(m)
    problems = []
    if tg < gt + pre_s:
        problems.append(f"terminationGracePeriodSeconds {tg} < preStop {pre_s:g} s + drain {gt:g} s")
    if sgp < cgt:
        problems.append(f"compose stop_grace_period {sgp:g} s < drain {cgt:g} s")
    return problems


def check_security(m):
    problems = []
    psc = m.spec.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True:
        problems.append("pod runAsNonRoot is not true")
    if str(psc.get("runAsUser")) != m.d_uid or m.d_uid == "0":
        problems.append(f"pod runAsUser {psc.get('runAsUser')} is not the image's uid {m.d_uid}")
    for c in m.spec.get("containers", []) + m.inits:
        sc = c.get("securityContext", {})
        if sc.get("runAsUser", 1) == 0:
            problems.append(f"{c['name']} runs as root")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{c['name']}: allowPrivilegeEscalation is not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{c['name']}: readOnlyRootFilesystem is not true")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{c['name']}: capabilities not dropped")
    if str(m.ctgi.get("user", "")).split(":")[0] in ("0", "root"):
        problems.append("compose runs ctgi as root")
    if m.ctgi.get("read_only") is not True:
        problems.append("compose: read_only is not true")
    return problems


def check_resources(m):
    res = m.main.get("resources", {})
    problems = [f"no {side}.{r}" for side in ("requests", "limits") for r in ("cpu", "memory")
                if r not in res.get(side, {})]
    if problems:
        return problems
    if cpu(res["requests"]["cpu"]) > cpu(res["limits"]["cpu"]) or \
            mem(res["requests"]["memory"]) > mem(res["limits"]["memory"]):
        problems.append("requests exceed limits")
    th = env_source(m.menv.get("THREADS", {}))
    if th != ("resource", "limits.cpu") and not (th[0] == "value" and float(th[1]) <= cpu(res["limits"]["cpu"])):
        problems.append(f"THREADS {th} does not follow the CPU limit (the server counts the node's cores)")
    kv = m.menv.get("KV_CACHE_MEMORY", {}).get("value")
    if kv is None or float(kv) >= mem(res["limits"]["memory"]) / 2:
        problems.append(f"KV_CACHE_MEMORY {kv} is not well inside the memory limit (default: 25% of the node's RAM)")
    return problems


def check_env_names(m):
    return [f"{where}: {v} is not a ctgi serve variable"
            for where, names in (("Deployment", m.menv.keys()), ("compose", m.cenv.keys()))
            for v in names if v not in m.serve_env and v not in NON_SERVE_ENV]


def check_wiring(m):
    problems = []
    labels = m.pod.get("metadata", {}).get("labels", {})
    sel = m.svc["spec"].get("selector", {})
    if not sel or any(labels.get(k) != v for k, v in sel.items()):
        problems.append(f"Service selector {sel} does not match the pod labels {labels}")
    if m.dep["spec"]["selector"].get("matchLabels", {}).items() - labels.items():
        problems.append("Deployment selector does not match its pod labels")
    ref = m.hpa["spec"].get("scaleTargetRef", {})
    if ref.get("kind") != "Deployment" or ref.get("name") != m.dep["metadata"]["name"]:
        problems.append(f"HPA scales {ref}")
    mets = [mm.get("resource", {}).get("name") for mm in m.hpa["spec"].get("metrics", [])]
    if "cpu" not in mets:
        problems.append(f"HPA metrics {mets} lack cpu")
    if not 1 <= m.hpa["spec"].get("minReplicas", 1) <= m.hpa["spec"].get("maxReplicas", 0):
        problems.append("HPA replica range is empty")
    return problems


def check_compose(m):
    problems = []
    b = m.ctgi.get("build", {})
    ctx = os.path.normpath(os.path.join(m.root, "docker", b.get("context", ".")))
    if not os.path.isfile(os.path.join(ctx, b.get("dockerfile", "Dockerfile"))):
        problems.append(f"compose build context {ctx} has no Dockerfile")
    if not any(str(v).split(":")[1:2] == [m.hf_home] for v in m.ctgi.get("volumes", [])):
        problems.append(f"compose mounts nothing at {m.hf_home}")
    p = m.compose["services"].get("prometheus")
    if not p or not p.get("profiles"):
        problems.append("no prometheus service under a profile")
    paths = [sc.get("metrics_path", "/metrics") for sc in m.prom.get("scrape_configs", [])]
    if paths != ["/metrics"] or not m.prom_targets or not all(tg.startswith("ctgi:") for tg in m.prom_targets):
        problems.append(f"prometheus scrapes {m.prom_targets} at {paths}")
    kus = [d for f, d in m.objs if f == "kustomization.yaml"]
    listed = set(kus[0].get("resources", [])) if kus else set()
    want = {os.path.basename(f) for f in m.files} - {"kustomization.yaml"}
    if listed != want:
        problems.append(f"kustomization lists {sorted(listed)}, the folder has {sorted(want)}")
    return problems


CHECKS = [
    ("Dockerfile: numeric non-root USER, HEALTHCHECK ctgi health, VOLUME = HF_HOME, ENV MODEL_ID", check_dockerfile),
    ("one image name in the Deployment, compose, the Dockerfile and docs/deploy.md", check_image),
    ("one port everywhere", check_ports),
    ("startup, readiness and liveness probes GET /health on the container port", check_probes),
    ("an init container runs `ctgi download $(MODEL_ID)` into the volume the server reads (HF_HOME)", check_init),
    ("grace periods cover the server's drain", check_grace),
    ("non-root (uid from the image), no privilege escalation, read-only root filesystem", check_security),
    ("requests and limits set; THREADS and KV_CACHE_MEMORY sized to the limits", check_resources),
    ("every variable set is one ctgi serve reads (or HF_HOME)", check_env_names),
    ("Service selects the pods; HPA scales the Deployment on CPU", check_wiring),
    ("compose builds this Dockerfile with a /data volume; Prometheus (profile) scrapes /metrics; "
     "kustomization lists every manifest", check_compose),
]


def main(root, help_file):
    t = Tap()
    m = load(t, root, help_file)
    if m is None:
        return 1
    for name, fn in CHECKS:
        try:
            problems = fn(m)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, OSError) as e:
            problems = [f"malformed: {type(e).__name__}: {e}"]
        t.check(name, problems)
    return 1 if t.failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
