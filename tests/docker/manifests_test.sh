#!/usr/bin/env bash
# manifests_test.sh — the Kubernetes manifests, compose file and Dockerfile
# agree with each other and with `ctgi serve` (check_manifests.py: ports,
# probes, image name, the init container's download, grace periods,
# non-root, resources, variable names).  Then the checker runs on broken
# copies, one breach each, and must name the breach: a checker that cannot
# fail is no test.  TAP output (tests/run.sh).
set -u
cd "$(dirname "$0")/../.."
BIN=${CTGI_BIN:-$PWD/build/ctgi}

PY=""
for p in python3 /usr/bin/python3; do
    command -v "$p" >/dev/null && "$p" -c 'import yaml' 2>/dev/null && { PY=$p; break; }
done
if [ -z "$PY" ]; then
    echo "not ok 1 - python3 with PyYAML is needed (scripts/install-deps.sh --test installs python3-yaml)"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BIN" serve --help >"$tmp/serve-help.txt" 2>&1 || { echo "not ok 1 - $BIN serve --help failed"; exit 1; }

out=$("$PY" tests/docker/check_manifests.py . "$tmp/serve-help.txt")
rc=$?
echo "$out"
n=$(grep -cE '^(not )?ok [0-9]+' <<<"$out")
failed=$rc

# mutate FILE SED_EXPR EXPECTED_FAILING_CHECK: the checker must fail on that check
mutate() {
    local file=$1 expr=$2 want=$3 copy=$tmp/tree
    rm -rf "$copy"
    mkdir -p "$copy/docs"
    cp -r Dockerfile docker "$copy/"
    cp docs/deploy.md "$copy/docs/"
    sed -i -e "$expr" "$copy/$file"
    n=$((n + 1))
    if cmp -s "$file" "$copy/$file"; then
        echo "not ok $n - breach '$expr' in $file changed nothing (the test is stale)"
        failed=1
        return
    fi
    local res
    res=$("$PY" tests/docker/check_manifests.py "$copy" "$tmp/serve-help.txt" 2>&1)
    if [ $? -ne 0 ] && grep -qE "^not ok [0-9]+ - $want" <<<"$res"; then
        echo "ok $n - caught: $file '$expr'"
    else
        echo "not ok $n - not caught as '$want': $file '$expr'"
        sed 's/^/# /' <<<"$res" | grep -v '^# ok'
        failed=1
    fi
}
mutate docker/k8s/deployment.yaml 's/containerPort: 8080/containerPort: 9000/' "one port everywhere"
mutate Dockerfile 's/^EXPOSE 8080/EXPOSE 8000/' "one port everywhere"
mutate docker/k8s/service.yaml 's/targetPort: http/targetPort: 8081/' "one port everywhere"
mutate docker/k8s/deployment.yaml 's/terminationGracePeriodSeconds: 110/terminationGracePeriodSeconds: 60/' \
    "grace periods"
mutate docker/compose.yaml 's/stop_grace_period: 100s/stop_grace_period: 1m/' "grace periods"
mutate docker/k8s/deployment.yaml 's/runAsUser: 1000/runAsUser: 0/' "non-root"
mutate docker/compose.yaml 's/read_only: true/read_only: false/' "non-root"
mutate docker/k8s/deployment.yaml '0,/readOnlyRootFilesystem: true/s//readOnlyRootFilesystem: false/' "non-root"
mutate Dockerfile 's/^USER 1000:1000/USER ctgi/' "Dockerfile: numeric non-root USER"
mutate docker/k8s/deployment.yaml '0,/path: \/health/s//path: \/healthz/' "startup, readiness and liveness probes"
mutate docker/k8s/deployment.yaml 's/args: \["download", "\$(MODEL_ID)"\]/args: ["download", "gpt2"]/' \
    "an init container runs"
mutate docker/k8s/deployment.yaml '0,/mountPath: \/data/s//mountPath: \/cache/' "an init container runs"
mutate docker/k8s/deployment.yaml '0,/image: ctgi:latest/s//image: ctgi:0.1/' "one image name"
mutate docs/deploy.md 's/docker build -t ctgi:latest/docker build -t tgi:latest/' "one image name"
mutate docker/k8s/deployment.yaml 's/name: THREADS/name: THREAD_COUNT/' "every variable set"
mutate docker/k8s/deployment.yaml 's/value: "1073741824"/value: "8589934592"/' "requests and limits"
mutate docker/k8s/hpa.yaml 's/name: ctgi$/name: ctgi-old/' "Service selects the pods; HPA"
mutate docker/prometheus.yml 's/ctgi:8080/ctgi:9100/' "one port everywhere"
exit "$failed"
