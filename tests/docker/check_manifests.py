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


# ---- the checks ----------------------------------------------------------------------------

def main(root, help_file):
    t = Tap()
    help_text = open(help_file).read()
    serve_env = set(re.findall(r"\[env ([A-Z0-9_]+);", help_text))
    m = re.search(r"\[env GRACEFUL_TERMINATION_TIMEOUT; default: ([\d.]+)\]", help_text)
    t.check("ctgi serve --help names its variables and the graceful-termination default",
            [] if serve_env and m else ["cannot read them from " + help_file])
    if not (serve_env and m):
        return 1
    server_grace = float(m.group(1))

    # -- parse everything
    k8s_dir = os.path.join(root, "docker", "k8s")
    objs, problems = [], []
    files = sorted(glob.glob(os.path.join(k8s_dir, "*.yaml")))
    compose = prom = None
    for p in files + [os.path.join(root, "docker", "compose.yaml"), os.path.join(root, "docker", "prometheus.yml")]:
        try:
            docs = load_yaml_docs(p)
        except (OSError, yaml.YAMLError) as e:
            problems.append(f"{os.path.relpath(p, root)}: {e}")
            continue
        if p.endswith("compose.yaml"):
            compose = docs[0] if docs else None
        elif p.endswith("prometheus.yml"):
            prom = docs[0] if docs else None
        else:
            objs += [(os.path.basename(p), d) for d in docs]
    t.check(f"the YAML parses ({len(files)} Kubernetes files, compose, prometheus)", problems)
    if problems or not compose or not prom:
        return 1

    def kind(k):
        found = [d for _, d in objs if d.get("kind") == k]
        return found[0] if len(found) == 1 else None

    dep, svc, hpa = kind("Deployment"), kind("Service"), kind("HorizontalPodAutoscaler")
    t.check("one Deployment, one Service, one HorizontalPodAutoscaler",
            [f"{k} missing or not unique" for k, o in
             (("Deployment", dep), ("Service", svc), ("HorizontalPodAutoscaler", hpa)) if o is None])
    if not (dep and svc and hpa):
        return 1
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    mains = [c for c in spec.get("containers", []) if c.get("name") == "ctgi"]
    inits = spec.get("initContainers", [])
    main_c = mains[0] if mains else spec["containers"][0]
    menv = env_map(main_c)

    # -- the Dockerfile
    df = dockerfile(os.path.join(root, "Dockerfile"))
    denv = docker_env(df)
    d_user = next((r for k, r in df if k == "USER"), "")
    d_uid = d_user.split(":")[0]
    d_expose = [p.split("/")[0] for k, r in df if k == "EXPOSE" for p in r.split()]
    d_vol = " ".join(r for k, r in df if k == "VOLUME")
    d_hc = " ".join(r for k, r in df if k == "HEALTHCHECK")
    problems = []
    if not d_uid.isdigit() or d_uid == "0":
        problems.append(f"USER '{d_user}' is not a numeric non-root uid (Kubernetes' runAsNonRoot needs a number)")
    if not re.search(r"CMD .*ctgi.*health", d_hc):
        problems.append(f"HEALTHCHECK does not run `ctgi health`: '{d_hc}'")
    if denv.get("HF_HOME") not in d_vol:
        problems.append(f"HF_HOME={denv.get('HF_HOME')} is not a VOLUME ({d_vol})")
    if "MODEL_ID" not in denv:
        problems.append("no ENV MODEL_ID")
    t.check("Dockerfile: numeric non-root USER, HEALTHCHECK ctgi health, VOLUME = HF_HOME, ENV MODEL_ID", problems)

    # -- one image name everywhere
    names = {}
    for c in spec.get("containers", []) + inits:
        names.setdefault(c.get("image"), []).append(f"k8s {c.get('name')}")
    names.setdefault(compose["services"]["ctgi"].get("image"), []).append("compose")
    for doc in ("docs/deploy.md", "Dockerfile"):
        for tag in re.findall(r"docker build -t (\S+)", open(os.path.join(root, doc)).read()):
            names.setdefault(tag, []).append(doc)
    t.check("one image name in the Deployment, compose, the Dockerfile and docs/deploy.md",
            [] if len(names) == 1 else [f"{n}: {', '.join(w)}" for n, w in names.items()])

    # -- ports
    cports = {p.get("name"): p["containerPort"] for p in main_c.get("ports", [])}
    cport = next(iter(cports.values()), None)
    svc_ports = svc["spec"].get("ports", [])
    tgt = svc_ports[0].get("targetPort") if svc_ports else None
    tgt = cports.get(tgt, tgt) if isinstance(tgt, str) else tgt
    cmp_port = compose["services"]["ctgi"].get("ports", [""])[0]
    cmp_target = str(cmp_port).rsplit(":", 1)[-1].split("/")[0]
    prom_targets = [tg for sc in prom.get("scrape_configs", []) for s in sc.get("static_configs", [])
                    for tg in s.get("targets", [])]
    seen = {
        "containerPort": str(cport),
        "Service targetPort": str(tgt),
        "EXPOSE": ",".join(d_expose),
        "Dockerfile ENV PORT": denv.get("PORT"),
        "Deployment PORT": menv.get("PORT", {}).get("value", denv.get("PORT")),
        "compose port target": cmp_target,
        "compose PORT": str(compose["services"]["ctgi"].get("environment", {}).get("PORT", denv.get("PORT"))),
        "prometheus target": ",".join(tg.rsplit(":", 1)[-1] for tg in prom_targets),
        "prometheus.io/port": pod.get("metadata", {}).get("annotations", {}).get("prometheus.io/port"),
    }
    t.check(f"one port everywhere ({cport})",
            [] if len(set(seen.values())) == 1 else [f"{k}={v}" for k, v in seen.items()])

    # -- probes
    problems = []
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        pr = main_c.get(probe)
        if not pr or "httpGet" not in pr:
            problems.append(f"no {probe} httpGet")
            continue
        g = pr["httpGet"]
        port = cports.get(g.get("port"), g.get("port"))
        if g.get("path") != "/health" or port != cport:
            problems.append(f"{probe} probes {g.get('path')} on port {g.get('port')}")
    st = main_c.get("startupProbe", {})
    budget = st.get("periodSeconds", 10) * st.get("failureThreshold", 3)
    if budget < 300:
        problems.append(f"the startup probe allows only {budget} s for the model to load")
    t.check("startup, readiness and liveness probes GET /health on the container port", problems)

    # -- the init container downloads MODEL_ID into HF_HOME
    problems = []
    hf_home = denv.get("HF_HOME")
    main_mounts = {v["mountPath"]: v["name"] for v in main_c.get("volumeMounts", [])}
    dl = [c for c in inits if "download" in (c.get("command", []) + c.get("args", []))]
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
            if var not in ienv or var not in menv:
                problems.append(f"{var} missing in {c['name']} or ctgi")
            elif env_source(ienv[var]) != env_source(menv[var]):
                problems.append(f"{var}: {env_source(ienv[var])} vs {env_source(menv[var])}")
        if menv.get("HF_HOME", {}).get("value") != hf_home:
            problems.append(f"HF_HOME is not the image's {hf_home}")
        imounts = {v["mountPath"]: v["name"] for v in c.get("volumeMounts", [])}
        if hf_home not in imounts or imounts.get(hf_home) != main_mounts.get(hf_home):
            problems.append(f"{c['name']} and ctgi do not share a volume at {hf_home}")
    t.check("an init container runs `ctgi download $(MODEL_ID)` into the volume the server reads (HF_HOME)",
            problems)

    # -- graceful termination
    problems = []
    gt = float(menv["GRACEFUL_TERMINATION_TIMEOUT"]["value"]) if "GRACEFUL_TERMINATION_TIMEOUT" in menv \
        else server_grace
    pre = main_c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pre_s = float(pre[1]) if len(pre) == 2 and pre[0] == "sleep" else 0.0
    tg = spec.get("terminationGracePeriodSeconds", 30)
    if tg < gt + pre_s:
        problems.append(f"terminationGracePeriodSeconds {tg} < preStop {pre_s:g} s + drain {gt:g} s")
    cenv = compose["services"]["ctgi"].get("environment", {})
    cgt = float(cenv.get("GRACEFUL_TERMINATION_TIMEOUT", server_grace))
    sgp = duration(compose["services"]["ctgi"].get("stop_grace_period", "10s"))
    if sgp < cgt:
        problems.append(f"compose stop_grace_period {sgp:g} s < drain {cgt:g} s")
    t.check(f"grace periods cover the server's drain (Kubernetes {tg} s, compose {sgp:g} s, drain {gt:g} s)",
            problems)

    # -- non-root, read-only root filesystem
    problems = []
    psc = spec.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True:
        problems.append("pod runAsNonRoot is not true")
    if str(psc.get("runAsUser")) != d_uid or d_uid == "0":
        problems.append(f"pod runAsUser {psc.get('runAsUser')} is not the image's uid {d_uid}")
    for c in spec.get("containers", []) + inits:
        sc = c.get("securityContext", {})
        if sc.get("runAsUser", 1) == 0:
            problems.append(f"{c['name']} runs as root")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{c['name']}: allowPrivilegeEscalation is not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{c['name']}: readOnlyRootFilesystem is not true")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{c['name']}: capabilities not dropped")
    if compose["services"]["ctgi"].get("user") in ("0", "root"):
        problems.append("compose runs ctgi as root")
    t.check("non-root (uid from the image), no privilege escalation, read-only root filesystem", problems)

    # -- resources and sizing
    problems = []
    res = main_c.get("resources", {})
    for side in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in res.get(side, {}):
                problems.append(f"no {side}.{r}")
    if not problems:
        if cpu(res["requests"]["cpu"]) > cpu(res["limits"]["cpu"]) or \
                mem(res["requests"]["memory"]) > mem(res["limits"]["memory"]):
            problems.append("requests exceed limits")
        th = env_source(menv.get("THREADS", {}))
        if th != ("resource", "limits.cpu") and not (th[0] == "value" and float(th[1]) <= cpu(res["limits"]["cpu"])):
            problems.append(f"THREADS {th} does not follow the CPU limit (the server counts the node's cores)")
        kv = menv.get("KV_CACHE_MEMORY", {}).get("value")
        if kv is None or float(kv) >= mem(res["limits"]["memory"]) / 2:
            problems.append(f"KV_CACHE_MEMORY {kv} is not well inside the memory limit (default: 25% of the node's RAM)")
    t.check("requests and limits set; THREADS and KV_CACHE_MEMORY sized to the limits", problems)

    # -- every variable is one the server reads
    problems = []
    for where, names_ in (("Deployment", menv.keys()), ("compose", cenv.keys())):
        for v in names_:
            if v not in serve_env and v not in NON_SERVE_ENV:
                problems.append(f"{where}: {v} is not a ctgi serve variable")
    t.check("every variable set is one ctgi serve reads (or HF_HOME)", problems)

    # -- Service and HPA point at the Deployment
    problems = []
    labels = pod.get("metadata", {}).get("labels", {})
    sel = svc["spec"].get("selector", {})
    if not sel or any(labels.get(k) != v for k, v in sel.items()):
        problems.append(f"Service selector {sel} does not match the pod labels {labels}")
    if dep["spec"]["selector"].get("matchLabels", {}).items() - labels.items():
        problems.append("Deployment selector does not match its pod labels")
    ref = hpa["spec"].get("scaleTargetRef", {})
    if ref.get("kind") != "Deployment" or ref.get("name") != dep["metadata"]["name"]:
        problems.append(f"HPA scales {ref}")
    mets = [mm.get("resource", {}).get("name") for mm in hpa["spec"].get("metrics", [])]
    if "cpu" not in mets:
        problems.append(f"HPA metrics {mets} lack cpu")
    if not 1 <= hpa["spec"].get("minReplicas", 1) <= hpa["spec"].get("maxReplicas", 0):
        problems.append("HPA replica range is empty")
    t.check("Service selects the pods; HPA scales the Deployment on CPU", problems)

    # -- compose, prometheus, kustomization
    problems = []
    c = compose["services"]["ctgi"]
    ctx = os.path.normpath(os.path.join(root, "docker", c.get("build", {}).get("context", ".")))
    if not os.path.isfile(os.path.join(ctx, c.get("build", {}).get("dockerfile", "Dockerfile"))):
        problems.append(f"compose build context {ctx} has no Dockerfile")
    if not any(str(v).split(":")[1:2] == [hf_home] for v in c.get("volumes", [])):
        problems.append(f"compose mounts nothing at {hf_home}")
    p = compose["services"].get("prometheus")
    if not p or not p.get("profiles"):
        problems.append("no prometheus service under a profile")
    paths = [sc.get("metrics_path", "/metrics") for sc in prom.get("scrape_configs", [])]
    if paths != ["/metrics"] or not all(tg.startswith("ctgi:") for tg in prom_targets):
        problems.append(f"prometheus scrapes {prom_targets} at {paths}")
    kus = [d for f, d in objs if f == "kustomization.yaml"]
    listed = set(kus[0].get("resources", [])) if kus else set()
    want = {os.path.basename(f) for f in files} - {"kustomization.yaml"}
    if listed != want:
        problems.append(f"kustomization lists {sorted(listed)}, the folder has {sorted(want)}")
    t.check("compose builds this Dockerfile with a /data volume; Prometheus (profile) scrapes /metrics; "
            "kustomization lists every manifest", problems)

    return 1 if t.failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
