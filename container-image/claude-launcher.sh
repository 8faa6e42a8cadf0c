#!/bin/sh
# Installed as /usr/local/bin/claude in the smrelay agent image: approves the
# API key of the environment in ~/.claude.json, then runs Claude Code
# (/opt/claude-code/bin/claude) with the same arguments. Nothing is hidden:
# `claude ARGS` still means Claude Code with ARGS.
#
# Why: when ANTHROPIC_API_KEY is set, an interactive Claude Code asks once
# "Detected a custom API key in your environment ... Do you want to use this
# API key?" with "No (recommended)" preselected, and remembers the answer in
# ~/.claude.json, customApiKeyResponses.approved, as the key's last 20
# characters. The key reaches the container only when a session starts (the
# relay's `exec --env ANTHROPIC_API_KEY`, never baked into the image), so
# the image cannot carry the approval: this stores what answering "Yes"
# would. The key is read from the environment only; it never appears in
# argv, and only its 20-character suffix is written, as Claude Code does.
set -eu
real=/opt/claude-code/bin/claude

if [ -n "${ANTHROPIC_API_KEY:-}" ]; then
	/usr/bin/python3 - <<'EOF' || echo "claude: the API key is not pre-approved: Claude Code will ask" >&2
import json, os, sys, tempfile

path = os.path.join(os.path.expanduser("~"), ".claude.json")
suffix = os.environ["ANTHROPIC_API_KEY"][-20:]
try:
    try:
        with open(path, encoding="utf-8") as f:
            conf = json.load(f)
    except FileNotFoundError:
        conf = {}
    resp = conf.get("customApiKeyResponses") or {}
    approved = list(resp.get("approved") or [])
    rejected = list(resp.get("rejected") or [])
    if suffix not in approved or suffix in rejected:
        approved = [k for k in approved if k != suffix] + [suffix]
        rejected = [k for k in rejected if k != suffix]
        conf["customApiKeyResponses"] = {"approved": approved, "rejected": rejected}
        fd, tmp = tempfile.mkstemp(prefix=".claude.json.", dir=os.path.dirname(path))
        with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp: mode 0600
            json.dump(conf, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
except Exception as e:  # a message without the key, never a traceback
    sys.exit(f"claude: ~/.claude.json: {type(e).__name__}")
EOF
fi
exec "$real" "$@"
