#!/usr/bin/python3
"""check_files.py — static checks of smrelay's deployment files (run by
tests/deploy/check.sh; no container engine or cluster needed).

  --rendered FILE   `kubectl kustomize deploy/kubernetes` output; without it
                    the files kustomization.yaml lists are read as they are
  --binary FILE     the built smrelay: its NEEDED libraries must come from
                    packages the runtime image installs

Prints one line per failed check and exits 1 if any failed.
"""
import argparse
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
K8S = os.path.join(ROOT, "deploy", "kubernetes")
SECRET_VARS = {"SM_MM_TOKEN", "SM_VM_SSH_KEY", "SM_OPNSENSE_KEY", "SM_OPNSENSE_SECRET"}

failures = []
notes = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def code_vars():
    """SM_* names the daemon and its client read (string literals)."""
    names = set()
    for d in ("relay", "chat", "firewall"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, d)):
            for fn in files:
                if fn.endswith(".c"):
                    with open(os.path.join(dirpath, fn), encoding="utf-8", errors="replace") as f:
                        names |= set(re.findall(r'"(SM_[A-Z0-9_]+)"', f.read()))
    return names


# --- Dockerfiles -------------------------------------------------------------

def dockerfile(rel):
    """[(stage_name, from_image, [(INSTR, args)])] with ARG defaults expanded
    in FROM lines; continuation lines joined, comments dropped."""
    lines, cur = [], ""
    for raw in read(rel).splitlines():
        s = raw.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        lines.append(cur + s)
        cur = ""
    args, stages = {}, []
    for line in lines:
        instr, _, rest = line.partition(" ")
        instr, rest = instr.upper(), rest.strip()
        if instr == "ARG" and not stages:
            k, _, v = rest.partition("=")
            args[k] = v
        elif instr == "FROM":
            img = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), rest)
            parts = img.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append((name, parts[0], []))
        elif stages:
            stages[-1][2].append((instr, rest))
    return stages


def instrs(stage, name):
    return [a for i, a in stage[2] if i == name]


def apt_packages(stage):
    pkgs = []
    for run in instrs(stage, "RUN"):
        for cmd in re.split(r"&&|;", run):
            words = cmd.split()
            if words[:2] == ["apt-get", "install"]:
                pkgs += [w for w in words[2:] if not w.startswith("-")]
                check("--no-install-recommends" in words, "apt-get install without --no-install-recommends")
    return pkgs


def exec_form(arg):
    try:
        v = json.loads(arg)
        return v if isinstance(v, list) else None
    except ValueError:
        return None


def bookworm(image):
    tag = image.split("@")[0].rsplit("/", 1)[-1]
    return "bookworm" in tag or re.fullmatch(r"debian:12(\.\d+)?(-slim)?", tag) is not None


def packages_exist(pkgs, where):
    if not shutil.which("apt-cache"):
        notes.append(f"apt-cache missing: package names of {where} not checked")
        return
    # One call (apt-cache takes about a second each); it skips unknown
    # names silently, so the stanzas it prints are compared with the list.
    r = subprocess.run(["apt-cache", "show", "--no-all-versions"] + sorted(set(pkgs)),
                       capture_output=True, text=True)
    found = set(re.findall(r"^Package: (\S+)$", r.stdout, re.M))
    for p in sorted(set(pkgs) - found):
        check(False, f"{where}: package {p} is not in this machine's (Debian 12) index")


def check_relay_dockerfile(binary):
    st = dockerfile("Dockerfile")
    if not check(len(st) >= 2, "Dockerfile: not multi-stage"):
        return
    for _, img, _ in st:
        check(bookworm(img), f"Dockerfile: FROM {img} is not Debian 12 (bookworm)")
    final = st[-1]
    check("bookworm-slim" in final[1], "Dockerfile: the runtime stage is not bookworm-slim")
    build = st[0]
    check(any("install-build-deps.sh" in r for r in instrs(build, "RUN")),
          "Dockerfile: the build stage does not install deploy/install-build-deps.sh's packages")
    users = instrs(final, "USER")
    check(users and users[-1].split(":")[0] not in ("root", "0"), "Dockerfile: runtime USER is root or unset")
    check(users and users[-1].split(":")[0].isdigit(), "Dockerfile: runtime USER not numeric (runAsNonRoot cannot verify it)")
    cmd = exec_form((instrs(final, "CMD") or ["null"])[-1]) or []
    check(cmd[-2:] == ["smrelay", "serve"], "Dockerfile: CMD is not smrelay serve")
    pkgs = apt_packages(final)
    ep = instrs(final, "ENTRYPOINT")
    if ep:
        ep = exec_form(ep[-1]) or []
        check(ep and os.path.basename(ep[0]) == "tini" and "tini" in pkgs, "Dockerfile: ENTRYPOINT other than tini from the tini package")
    hc = instrs(final, "HEALTHCHECK")
    if check(hc, "Dockerfile: no HEALTHCHECK"):
        hcmd = exec_form(hc[-1].split("CMD", 1)[1].strip()) if "CMD" in hc[-1] else None
        check(hcmd and any("127.0.0.1:8080/healthz" in w for w in hcmd), "Dockerfile: HEALTHCHECK does not request 127.0.0.1:8080/healthz")
        check(hcmd and (hcmd[0] in pkgs or hcmd[0] == "smrelay"), "Dockerfile: the HEALTHCHECK program is not installed in the runtime stage")
    check(any("8080" in e.split() for e in instrs(final, "EXPOSE")), "Dockerfile: no EXPOSE 8080")
    check(any("/var/lib/smrelay" in v for v in instrs(final, "VOLUME")), "Dockerfile: no VOLUME /var/lib/smrelay")
    check(any("--from=" in c and c.split()[-1] == "/usr/local/bin/smrelay" for c in instrs(final, "COPY")),
          "Dockerfile: the binary is not copied from the build stage to /usr/local/bin/smrelay")
    check(any("rm -rf /var/lib/apt/lists" in r for r in instrs(final, "RUN")), "Dockerfile: apt lists left in the runtime image")
    packages_exist(pkgs, "Dockerfile runtime stage")
    # The libraries the built binary links must come from installed packages.
    if not binary or not os.access(binary, os.X_OK):
        notes.append("smrelay not built: runtime libraries not compared with the binary")
    elif not (shutil.which("readelf") and shutil.which("dpkg-query") and shutil.which("ldconfig")):
        notes.append("readelf/dpkg/ldconfig missing: runtime libraries not compared with the binary")
    else:
        out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True).stdout
        cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
        for so in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out):
            m = re.search(r"^\s*" + re.escape(so) + r" \(.*?\) => (\S+)", cache, re.M)
            owner = None
            if m:
                for path in (m.group(1), os.path.realpath(m.group(1))):
                    r = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
                    if r.returncode == 0:
                        owner = r.stdout.split(":")[0]
                        break
            if check(owner, f"Dockerfile: cannot tell which package provides {so}"):
                check(owner in pkgs or owner == "libc6", f"Dockerfile: the binary needs {so} from {owner}, not installed in the runtime stage")


def check_agent_dockerfile():
    st = dockerfile("container-image/Dockerfile")
    final = st[-1]
    for _, img, _ in st:
        check(bookworm(img), f"container-image/Dockerfile: FROM {img} is not bookworm")
    check(final[1].split("@")[0].endswith("debian:bookworm-slim"), "container-image/Dockerfile: final base is not debian:bookworm-slim")
    check(not instrs(final, "ENTRYPOINT"), "container-image/Dockerfile: ENTRYPOINT would wrap the relay's command")
    users = instrs(final, "USER")
    check(users and users[-1] == "claude", "container-image/Dockerfile: the last USER is not claude")
    runs = " ".join(instrs(final, "RUN"))
    check(re.search(r"useradd[^&;]*--uid 1000[^&;]* claude\b", runs), "container-image/Dockerfile: user claude is not created with uid 1000")
    check(re.search(r"install -d -o claude -g claude [^&;]*/workspace", runs), "container-image/Dockerfile: /workspace not owned by claude")
    check(re.search(r"npm install [^&;]*@anthropic-ai/claude-code", runs), "container-image/Dockerfile: Claude Code not installed from npm")
    pkgs = apt_packages(final)
    for p in ("tmux", "git", "python3", "python3-pip"):
        check(p in pkgs, f"container-image/Dockerfile: {p} not installed")
    check(not any("tini" in p or "catatonit" in p or "dumb-init" in p for p in pkgs),
          "container-image/Dockerfile: an init in the image (the relay uses run --init)")
    packages_exist(pkgs, "container-image/Dockerfile")
    copies = [c.split() for c in instrs(final, "COPY")]
    dests = {c[-1]: c[:-1] for c in copies}
    check("CLAUDE.md" in dests.get("/home/claude/.claude/", []), "container-image/Dockerfile: CLAUDE.md not in ~/.claude/")
    check("settings.json" in dests.get("/home/claude/.claude/", []), "container-image/Dockerfile: settings.json not in ~/.claude/")
    check("claude.json" in dests.get("/home/claude/.claude.json", []), "container-image/Dockerfile: claude.json not at ~/.claude.json")
    check("claude-launcher.sh" in dests.get("/usr/local/bin/claude", []), "container-image/Dockerfile: the launcher is not /usr/local/bin/claude")
    envs = " ".join(instrs(final, "ENV") + instrs(final, "ARG"))
    check("ANTHROPIC_API_KEY" not in envs, "container-image/Dockerfile: ANTHROPIC_API_KEY baked into the image")
    check(re.search(r"LANG=C\.UTF-8", envs), "container-image/Dockerfile: no UTF-8 locale (tmux would mangle non-ASCII)")
    check(os.access(os.path.join(ROOT, "container-image/claude-launcher.sh"), os.X_OK),
          "container-image/claude-launcher.sh is not executable (COPY keeps the mode)")


def check_agent_files():
    cj = json.loads(read("container-image/claude.json"))
    check(cj.get("hasCompletedOnboarding") is True, "claude.json: hasCompletedOnboarding is not true")
    check(isinstance(cj.get("theme"), str), "claude.json: no theme")
    check(cj.get("bypassPermissionsModeAccepted") is True, "claude.json: bypassPermissionsModeAccepted is not true")
    check(cj.get("projects", {}).get("/workspace", {}).get("hasTrustDialogAccepted") is True,
          "claude.json: /workspace is not trusted")
    sj = json.loads(read("container-image/settings.json"))
    check(sj.get("skipDangerousModePermissionPrompt") is True, "settings.json: skipDangerousModePermissionPrompt is not true")
    md = read("container-image/CLAUDE.md")
    for m in ("[NETWORK_REQUEST: <hostname>]", "[NETWORK_APPROVED: <hostname>]", "[NETWORK_DENIED: <hostname>]"):
        check(m in md, f"CLAUDE.md: does not show {m}")
    # The scanner's default pattern, from its C string literal.
    lit = re.search(r'#define VT_SCAN_DEFAULT_PATTERN "(.*)"', read("vt/vt_scan.h")).group(1)
    marker_re = re.compile(lit.encode().decode("unicode_escape"))
    ex = [v for v in marker_re.findall(md) if "<" not in v]
    check(ex and all("." in v for v in ex), "CLAUDE.md: no example marker the relay's scanner would match")
    for word in ("IP address", "wildcard", "one hostname"):
        check(word.lower() in md.lower(), f"CLAUDE.md: does not mention '{word}'")
    for d in ("container-image", "deploy"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, d)):
            for fn in files:
                with open(os.path.join(dirpath, fn), encoding="utf-8", errors="replace") as f:
                    check(not re.search(r"sk-ant-(?!REPLACE)[A-Za-z0-9]", f.read()),
                          f"{os.path.relpath(os.path.join(dirpath, fn), ROOT)}: looks like a real API key")
    check_launcher()


def check_launcher():
    """Runs the launcher with a stand-in for Claude Code: the key's suffix
    is approved, other settings kept, arguments passed, the key not in argv."""
    src = read("container-image/claude-launcher.sh")
    with tempfile.TemporaryDirectory() as home:
        fake = os.path.join(home, "real-claude")
        with open(fake, "w") as f:
            f.write('#!/bin/sh\nprintf "%s\\n" "$@" > "$HOME/argv"\n')
        launcher = os.path.join(home, "claude")
        body, n = re.subn(r"(?m)^real=.*$", "real=" + shlex.quote(fake), src)
        if not check(n == 1, "claude-launcher.sh: no real= line"):
            return
        with open(launcher, "w") as f:
            f.write(body)
        os.chmod(fake, 0o755)
        os.chmod(launcher, 0o755)
        with open(os.path.join(home, ".claude.json"), "w") as f:
            f.write(read("container-image/claude.json"))
        key = "sk-ant-test-" + "x" * 30 + "0123456789abcdefghij"
        env = {"HOME": home, "PATH": "/usr/bin:/bin", "ANTHROPIC_API_KEY": key}
        r = subprocess.run([launcher, "--dangerously-skip-permissions", "a b"], env=env,
                           capture_output=True, text=True)
        check(r.returncode == 0 and r.stderr == "", f"claude-launcher.sh failed: {r.stderr.strip()}")
        with open(os.path.join(home, ".claude.json")) as f:
            conf = json.load(f)
        check(conf.get("customApiKeyResponses", {}).get("approved") == [key[-20:]],
              "claude-launcher.sh: the key's last 20 characters are not approved")
        check(conf.get("hasCompletedOnboarding") is True, "claude-launcher.sh: lost the other settings")
        check(key not in json.dumps(conf), "claude-launcher.sh: wrote the whole key")
        with open(os.path.join(home, "argv")) as f:
            check(f.read() == "--dangerously-skip-permissions\na b\n", "claude-launcher.sh: arguments not passed as given")
        check(oct(os.stat(os.path.join(home, ".claude.json")).st_mode & 0o777) == "0o600",
              "claude-launcher.sh: ~/.claude.json not mode 0600")


def check_dockerignore():
    pats = [p.strip().rstrip("/") for p in read(".dockerignore").splitlines()
            if p.strip() and not p.startswith("#")]
    for need in ("CMakeLists.txt", "deploy/install-build-deps.sh", "relay", "vt", "chat",
                 "firewall", "bench", "tests/sshd_harness.c", "tests/test_fw_nft_lab.c"):
        parts = need.split("/")
        hit = [p for p in pats if any(fnmatch.fnmatch("/".join(parts[:i]), p) for i in range(1, len(parts) + 1))]
        check(not hit, f".dockerignore: {need} (needed by the build) is excluded by {hit}")


# --- Kubernetes --------------------------------------------------------------

def k8s_docs(rendered):
    kz = yaml.safe_load(read("deploy/kubernetes/kustomization.yaml"))
    res = kz.get("resources", [])
    check("secret.example.yaml" not in res, "kustomization.yaml: references secret.example.yaml")
    check(not kz.get("secretGenerator"), "kustomization.yaml: generates a Secret")
    for r in res:
        check(os.path.isfile(os.path.join(K8S, r)), f"kustomization.yaml: resource {r} does not exist")
    if rendered:
        with open(rendered, encoding="utf-8") as f:
            return [d for d in yaml.safe_load_all(f) if d]
    docs = []
    for r in res:
        if os.path.isfile(os.path.join(K8S, r)):
            with open(os.path.join(K8S, r), encoding="utf-8") as f:
                docs += [d for d in yaml.safe_load_all(f) if d]
    return docs


# Fields the manifests may use: a typo (readOnlyRootFileSystem) is silently
# ignored by older API servers, so it is caught here.
KNOWN = {
    "container": {"name", "image", "imagePullPolicy", "args", "command", "ports", "env", "envFrom",
                  "securityContext", "livenessProbe", "readinessProbe", "startupProbe", "resources",
                  "volumeMounts", "workingDir"},
    "csc": {"runAsNonRoot", "runAsUser", "runAsGroup", "readOnlyRootFilesystem",
            "allowPrivilegeEscalation", "capabilities", "seccompProfile", "privileged"},
    "psc": {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "fsGroupChangePolicy",
            "seccompProfile", "supplementalGroups"},
    "probe": {"httpGet", "initialDelaySeconds", "periodSeconds", "timeoutSeconds",
              "failureThreshold", "successThreshold"},
}


def known(obj, kind, where):
    extra = set(obj or {}) - KNOWN[kind]
    check(not extra, f"{where}: unknown fields {sorted(extra)}")


def check_k8s(rendered, names):
    docs = k8s_docs(rendered)
    by = {}
    for d in docs:
        by.setdefault(d.get("kind"), []).append(d)
    for kind in ("Namespace", "Deployment", "Service", "ConfigMap", "PersistentVolumeClaim", "NetworkPolicy"):
        check(len(by.get(kind, [])) == 1, f"kubernetes: expected one {kind}, found {len(by.get(kind, []))}")
    check("Secret" not in by, "kubernetes: the base contains a Secret (secret data in git)")
    if failures:
        return
    dep, svc, cm = by["Deployment"][0], by["Service"][0], by["ConfigMap"][0]
    pvc, np = by["PersistentVolumeClaim"][0], by["NetworkPolicy"][0]
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    check(spec.get("replicas") == 1, "Deployment: replicas is not 1")
    check(spec.get("strategy", {}).get("type") == "Recreate", "Deployment: strategy is not Recreate")
    check(spec["selector"]["matchLabels"].items() <= labels.items(), "Deployment: selector does not match the pod")
    psc = pod.get("securityContext", {})
    known(psc, "psc", "Deployment pod securityContext")
    check(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0, "Deployment: pod not runAsNonRoot with a non-zero runAsUser")
    check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "Deployment: pod seccompProfile not RuntimeDefault")
    check(len(pod["containers"]) == 1, "Deployment: expected one container")
    c = pod["containers"][0]
    known(c, "container", "Deployment container")
    csc = c.get("securityContext", {})
    known(csc, "csc", "Deployment container securityContext")
    check(csc.get("readOnlyRootFilesystem") is True, "Deployment: readOnlyRootFilesystem is not true")
    check(csc.get("allowPrivilegeEscalation") is False, "Deployment: allowPrivilegeEscalation is not false")
    check(csc.get("capabilities", {}).get("drop") == ["ALL"] and not csc["capabilities"].get("add"),
          "Deployment: capabilities do not drop ALL (or add some)")
    check(csc.get("privileged") is not True, "Deployment: privileged container")
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    check(8080 in ports.values(), "Deployment: no containerPort 8080")

    def port_of(p):
        return ports.get(p) if isinstance(p, str) else p

    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        pr = c.get(probe, {})
        known(pr, "probe", f"Deployment {probe}")
        hg = pr.get("httpGet", {})
        check(hg.get("path") == path and port_of(hg.get("port")) == 8080, f"Deployment: {probe} is not GET {path} on 8080")
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    for e in env:
        check(e in names or not e.startswith("SM_"), f"Deployment: env {e} is not a variable smrelay reads")
    refs = c.get("envFrom", [])
    check(any(r.get("configMapRef", {}).get("name") == cm["metadata"]["name"] for r in refs), "Deployment: ConfigMap not in envFrom")
    env_secret = [r["secretRef"]["name"] for r in refs if "secretRef" in r]
    check(env_secret, "Deployment: no Secret in envFrom")
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
    for m in mounts.values():
        check(m["name"] in vols, f"Deployment: mount of undefined volume {m['name']}")
    state = mounts.get("/var/lib/smrelay", {})
    check(vols.get(state.get("name"), {}).get("persistentVolumeClaim", {}).get("claimName") == pvc["metadata"]["name"],
          "Deployment: /var/lib/smrelay is not the PersistentVolumeClaim")
    ssh = [v for v in vols.values() if "secret" in v]
    if check(len(ssh) == 1, "Deployment: expected one Secret volume (SSH key, known_hosts)"):
        sv = ssh[0]["secret"]
        mount = [m for m in mounts.values() if m["name"] == ssh[0]["name"]]
        check(mount and mount[0].get("readOnly") is True, "Deployment: the SSH Secret volume is not mounted read-only")
        items = {i["key"]: i for i in sv.get("items", [])}
        for key, var in (("id_ed25519", "SM_VM_SSH_KEY_PATH"), ("known_hosts", "SM_VM_KNOWN_HOSTS")):
            it = items.get(key)
            if check(it, f"Deployment: Secret item {key} not mounted"):
                check(it.get("mode", sv.get("defaultMode")) == 0o400, f"Deployment: {key} not mode 0400")
                check(mount and env.get(var) == os.path.join(mount[0]["mountPath"], it["path"]),
                      f"Deployment: {var} does not point at the mounted {key}")
        check(sv["secretName"] not in env_secret, "Deployment: the SSH Secret is also in envFrom (the key would be an env var)")
    # Service
    check(svc["spec"].get("type", "ClusterIP") == "ClusterIP", "Service: not ClusterIP")
    check(svc["spec"].get("selector", {}).items() <= labels.items() and svc["spec"].get("selector"), "Service: selector does not match the pod")
    sp = svc["spec"].get("ports", [])
    check(any(p.get("port") == 8080 and port_of(p.get("targetPort", p.get("port"))) == 8080 for p in sp),
          "Service: port 8080 does not reach the container's 8080")
    # NetworkPolicy
    check(np["spec"].get("podSelector", {}).get("matchLabels", {}).items() <= labels.items()
          and np["spec"]["podSelector"].get("matchLabels"), "NetworkPolicy: podSelector does not select the pod")
    check(set(np["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}, "NetworkPolicy: policyTypes not Ingress and Egress")
    for rule in np["spec"].get("ingress", []):
        check(rule.get("from"), "NetworkPolicy: an ingress rule from anywhere")
        check([p.get("port") for p in rule.get("ports", [])] == [8080], "NetworkPolicy: ingress other than port 8080")
    check(np["spec"].get("ingress"), "NetworkPolicy: no ingress rule (Mattermost's callbacks)")
    eg = np["spec"].get("egress", [])
    for rule in eg:
        check(rule.get("to") and rule.get("ports"), "NetworkPolicy: an egress rule to anywhere or on any port")
    eports = {(p.get("protocol", "TCP"), p.get("port")) for r in eg for p in r.get("ports", [])}
    for need, what in ((("UDP", 53), "DNS"), (("TCP", 22), "SSH to the VMs"), (("TCP", 443), "the OPNsense API")):
        check(need in eports, f"NetworkPolicy: no egress for {what}")
    check(len(eg) >= 4, "NetworkPolicy: expected egress rules for DNS, Mattermost, SSH, OPNsense")
    # PVC
    check("ReadWriteOnce" in pvc["spec"].get("accessModes", []), "PersistentVolumeClaim: not ReadWriteOnce")
    # ConfigMap: names the code reads, values strings, consistent with the pod
    data = cm.get("data", {})
    for k, v in data.items():
        check(k in names, f"ConfigMap: {k} is not a variable smrelay reads")
        check(k not in SECRET_VARS, f"ConfigMap: {k} is a secret")
        check(isinstance(v, str), f"ConfigMap: {k} is not a string")
    check(data.get("SM_STATE_DIR", "/var/lib/smrelay") == "/var/lib/smrelay", "ConfigMap: SM_STATE_DIR is not the volume")
    check(str(data.get("SM_LISTEN_ADDR", "")).endswith(":8080") and not data["SM_LISTEN_ADDR"].startswith("127."),
          "ConfigMap: SM_LISTEN_ADDR does not listen on the pod's port 8080")
    cm_text = read("deploy/kubernetes/configmap.yaml")
    with open(os.path.join(K8S, "secret.example.yaml"), encoding="utf-8") as f:
        secrets = [d for d in yaml.safe_load_all(f) if d]
    skeys = set()
    for s in secrets:
        check(s.get("kind") == "Secret", "secret.example.yaml: not a Secret")
        for k, v in (s.get("stringData") or {}).items():
            skeys.add(k)
            check("REPLACE-ME" in v, f"secret.example.yaml: {k} is not a placeholder")
        check(not s.get("data"), "secret.example.yaml: base64 data instead of placeholders")
    snames = {s["metadata"]["name"] for s in secrets}
    for n in env_secret + [v["secret"]["secretName"] for v in ssh]:
        check(n in snames, f"secret.example.yaml: no example of Secret {n} the Deployment uses")
    for k in ("SM_MM_TOKEN", "SM_OPNSENSE_KEY", "SM_OPNSENSE_SECRET", "id_ed25519", "known_hosts"):
        check(k in skeys, f"secret.example.yaml: no {k}")
    for k in skeys:
        check(not k.startswith("SM_") or k in names, f"secret.example.yaml: {k} is not a variable smrelay reads")
    for k in data.get("SM_CONTAINER_ENV", "ANTHROPIC_API_KEY").split(","):
        check(k.strip() in skeys, f"secret.example.yaml: {k.strip()} (SM_CONTAINER_ENV) is not provided")
    for n in sorted(names):
        check(re.search(r"\b" + n + r"\b", cm_text) or n in skeys,
              f"ConfigMap: {n} (read by smrelay) is neither set nor mentioned; add it or its default as a comment")


# --- systemd -----------------------------------------------------------------

def unit(rel):
    d = {}
    for line in read(rel).splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            k, _, v = line.partition("=")
            d.setdefault(k.strip(), []).append(v.strip())
    return d


def check_systemd(names):
    u = unit("deploy/systemd/smrelay.service")
    want = {
        "ExecStart": "/usr/local/bin/smrelay serve", "StateDirectory": "smrelay",
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "NoNewPrivileges": "yes", "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "SystemCallFilter": "@system-service", "MemoryDenyWriteExecute": "yes",
        "LockPersonality": "yes", "RestrictNamespaces": "yes", "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
        "EnvironmentFile": "/etc/smrelay/smrelay.env", "Restart": "on-failure", "KillMode": "mixed",
    }
    for k, v in want.items():
        check(v in u.get(k, []), f"smrelay.service: no {k}={v}")
    check(u.get("DynamicUser") == ["yes"] or (u.get("User") and u["User"] != ["root"]), "smrelay.service: runs as root")
    check(not any("CAP_" in v for k in ("CapabilityBoundingSet", "AmbientCapabilities") for v in u.get(k, [])),
          "smrelay.service: grants capabilities (the nftables drop-in is the place)")
    dropin = unit("deploy/systemd/smrelay-nftables.conf")
    check(dropin.get("AmbientCapabilities") == ["CAP_NET_ADMIN"] and dropin.get("CapabilityBoundingSet") == ["CAP_NET_ADMIN"],
          "smrelay-nftables.conf: does not grant exactly CAP_NET_ADMIN")
    env = read("deploy/systemd/smrelay.env.example")
    for n in set(re.findall(r"^#?\s*(SM_[A-Z0-9_]+)=", env, re.M)):
        check(n in names, f"smrelay.env.example: {n} is not a variable smrelay reads")
    check(not re.search(r"\\$", env, re.M), "smrelay.env.example: a line ends in a backslash (systemd joins it with the next)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rendered")
    ap.add_argument("--binary")
    a = ap.parse_args()
    names = code_vars()
    check(len(names) > 20, f"found only {len(names)} SM_* names in relay/, chat/, firewall/")
    for step in (lambda: check_relay_dockerfile(a.binary), check_agent_dockerfile, check_agent_files,
                 check_dockerignore, lambda: check_k8s(a.rendered, names), lambda: check_systemd(names)):
        try:
            step()
        except (KeyError, TypeError, AttributeError, IndexError, ValueError, OSError, yaml.YAMLError) as e:
            failures.append(f"malformed file ({type(e).__name__}: {e})")
    for n in notes:
        print(f"note: {n}")
    for f in failures:
        print(f"FAIL: {f}")
    print(f"deployment file checks: {len(failures)} failed" if failures else "deployment file checks: ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
