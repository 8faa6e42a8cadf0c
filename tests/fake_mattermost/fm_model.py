"""fm_model — the fake's data: seed users/team/channels, the Post, User,
Channel and Reaction JSON shapes, and the attachment/action normalisation the
real server applies when it saves a post (Post.Attachments / GenerateActionIds
/ StripActionIntegrations, reference §4 and model/message_attachment.go)."""

import copy
import re

from fm_util import gojson, new_id, now_ms


def fixed_id(prefix):
    """A readable, valid 26-character id ("aliceuser00000000000000000")."""
    return (prefix + "0" * 26)[:26]


TEAM_ID = fixed_id("t1team")
BOT_ID = fixed_id("claudeuser")
ALICE_ID = fixed_id("aliceuser")
BOB_ID = fixed_id("bobuser")
CAROL_ID = fixed_id("caroluser")
TOWN_ID = fixed_id("townchannel")
OTHER_ID = fixed_id("otherchannel")

SEED_USERS = [
    # username, id, token, is_bot
    ("claude", BOT_ID, "bot-token", True),
    ("alice", ALICE_ID, "alice-token", False),
    ("bob", BOB_ID, "bob-token", False),
    ("carol", CAROL_ID, "carol-token", False),
]

SEED_CHANNELS = [
    # name, id, type, display name, members
    ("town", TOWN_ID, "O", "Town Square", [BOT_ID, ALICE_ID, BOB_ID]),
    ("other", OTHER_ID, "P", "Other", [BOT_ID, BOB_ID]),
]


def make_user(username, uid, is_bot, t):
    u = {
        "id": uid, "create_at": t, "update_at": t, "delete_at": 0,
        "username": username, "auth_data": "", "auth_service": "",
        "email": "%s@example.com" % username, "nickname": "",
        "first_name": username.capitalize(), "last_name": "", "position": "",
        "roles": "system_user", "props": {},
        "notify_props": {"channel": "true", "comments": "never",
                         "desktop": "mention", "email": "true",
                         "mention_keys": "", "push": "mention"},
        "last_password_update": t, "locale": "en",
        "timezone": {"automaticTimezone": "", "manualTimezone": "",
                     "useAutomaticTimezone": "true"},
        "disable_welcome_email": False,
    }
    if is_bot:
        u["is_bot"] = True
        u["bot_description"] = "Claude Code relay"
    return u


def make_team(t):
    return {
        "id": TEAM_ID, "create_at": t, "update_at": t, "delete_at": 0,
        "display_name": "T1", "name": "t1", "description": "",
        "email": "admin@example.com", "type": "O", "company_name": "",
        "allowed_domains": "", "invite_id": fixed_id("invite"),
        "allow_open_invite": False, "scheme_id": None,
        "group_constrained": None, "policy_id": None,
    }


def make_channel(cid, team_id, ctype, display, name, creator, t):
    return {
        "id": cid, "create_at": t, "update_at": t, "delete_at": 0,
        "team_id": team_id, "type": ctype, "display_name": display,
        "name": name, "header": "", "purpose": "", "last_post_at": 0,
        "total_msg_count": 0, "extra_update_at": 0, "creator_id": creator,
        "scheme_id": None, "props": None, "group_constrained": None,
        "shared": None, "total_msg_count_root": 0, "policy_id": None,
        "last_root_post_at": 0,
    }


# ---------------------------------------------------------------------------
# Attachments and actions (model.MessageAttachment / model.PostAction)

class _Drop(Exception):
    """json.Unmarshal of one attachment failed: Attachments() skips it."""


def _get(d, key):
    if key in d:
        return True, d[key]
    for k, v in d.items():          # encoding/json matches keys case-insensitively
        if isinstance(k, str) and k.lower() == key:
            return True, v
    return False, None


def _str(d, key):
    ok, v = _get(d, key)
    if not ok or v is None:
        return ""
    if not isinstance(v, str):
        raise _Drop()
    return v


def _bool(d, key):
    ok, v = _get(d, key)
    if not ok or v is None:
        return False
    if not isinstance(v, bool):
        raise _Drop()
    return v


def _int(d, key):
    ok, v = _get(d, key)
    if not ok or v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int):
        raise _Drop()
    return v


def _norm_action(a):
    if not isinstance(a, dict):
        raise _Drop()
    out = {}
    for key in ("id", "type", "name"):
        v = _str(a, key)
        if v:
            out[key] = v
    if _bool(a, "disabled"):
        out["disabled"] = True
    for key in ("style", "data_source"):
        v = _str(a, key)
        if v:
            out[key] = v
    ok, opts = _get(a, "options")
    if ok and opts is not None:
        if not isinstance(opts, list):
            raise _Drop()
        norm = []
        for o in opts:
            if o is None:
                norm.append(None)
            elif isinstance(o, dict):
                norm.append({"text": _str(o, "text"), "value": _str(o, "value")})
            else:
                raise _Drop()
        if norm:
            out["options"] = norm
    v = _str(a, "default_option")
    if v:
        out["default_option"] = v
    ok, integ = _get(a, "integration")
    if ok and integ is not None:
        if not isinstance(integ, dict):
            raise _Drop()
        i = {}
        url = _str(integ, "url")
        if url:
            i["url"] = url
        okc, ctx = _get(integ, "context")
        if okc and ctx is not None:
            if not isinstance(ctx, dict):
                raise _Drop()
            if ctx:
                i["context"] = ctx
        out["integration"] = i
    v = _str(a, "cookie")
    if v:
        out["cookie"] = v
    return out


def _norm_field(f):
    if not isinstance(f, dict):
        raise _Drop()
    ok, short = _get(f, "short")
    if not ok or short is None:
        short = False
    elif isinstance(short, str):
        short = short.lower() == "true"
    elif not isinstance(short, bool):
        raise _Drop()
    ok, value = _get(f, "value")
    return {"title": _str(f, "title"), "value": value if ok else None,
            "short": short}


def _norm_attachment(a):
    if a is None:
        a = {}
    if not isinstance(a, dict):
        raise _Drop()
    out = {"id": _int(a, "id")}
    for key in ("fallback", "color", "pretext", "author_name", "author_link",
                "author_icon", "title", "title_link", "text"):
        out[key] = _str(a, key)
    ok, fields = _get(a, "fields")
    if not ok or fields is None:
        out["fields"] = None
    elif isinstance(fields, list):
        out["fields"] = [_norm_field(f) for f in fields if f is not None]
    else:
        raise _Drop()
    for key in ("image_url", "thumb_url", "footer", "footer_icon"):
        out[key] = _str(a, key)
    ok, ts = _get(a, "ts")
    out["ts"] = ts if ok else None
    ok, actions = _get(a, "actions")
    if ok and actions is not None:
        if not isinstance(actions, list):
            raise _Drop()
        acts = [_norm_action(x) for x in actions if x is not None]
        if acts:
            out["actions"] = acts
    return out


def normalize_attachments(value):
    """Post.Attachments(): each element re-decoded as a MessageAttachment;
    elements that fail to decode are dropped; a non-list gives None."""
    if not isinstance(value, list):
        return None
    out = []
    for a in value:
        try:
            out.append(_norm_attachment(copy.deepcopy(a)))
        except _Drop:
            continue
    return out


def pre_commit_props(props):
    """Post.PreCommit's GenerateActionIds: re-type attachments and give every
    action without an id a fresh NewId()."""
    if props.get("attachments") is None:
        return
    atts = normalize_attachments(props["attachments"])
    for att in atts or []:
        for i, act in enumerate(att.get("actions", [])):
            if not act.get("id"):
                act2 = {"id": new_id()}
                act2.update(act)
                att["actions"][i] = act2
    props["attachments"] = atts


def strip_integrations(props):
    """StripActionIntegrations on a copy of props."""
    props = copy.deepcopy(props) if props is not None else {}
    if props.get("attachments") is not None:
        atts = normalize_attachments(props["attachments"])
        for att in atts or []:
            for act in att.get("actions", []):
                act.pop("integration", None)
        props["attachments"] = atts
    return props


def find_action(props, action_id):
    """Post.GetAction: the first action with that id, or None."""
    for att in normalize_attachments((props or {}).get("attachments")) or []:
        for act in att.get("actions", []):
            if act.get("id") == action_id:
                return act
    return None


def attachments_equal(p1, p2):
    return (normalize_attachments((p1 or {}).get("attachments")) or []) == \
        (normalize_attachments((p2 or {}).get("attachments")) or [])


# ---------------------------------------------------------------------------
# Posts

_PUNC_START = re.compile(r"^(?:[^\w\s#]|_)+")
_PUNC_END = re.compile(r"(?:[^\w\s]|_)+$")
_HASH_START = re.compile(r"^#{2,}")
_VALID_HASHTAG = re.compile(r"^#[^\W\d_][\w\-.]*[^\W_]$")


def parse_hashtags(text):
    """model.ParseHashtags (hashtag part)."""
    tags = []
    for word in text.split():
        word = _PUNC_START.sub("", word)
        word = _PUNC_END.sub("", word)
        word = _HASH_START.sub("#", word)
        if _VALID_HASHTAG.match(word):
            tags.append(word)
    s = " ".join(tags)
    if len(s) > 1000:
        s = s[:999]
        cut = s.rfind(" ")
        s = s[:cut] if cut > -1 else ""
    return s


def new_post(user_id, channel_id, message, root_id="", props=None,
             ptype="", file_ids=None, pending_post_id="", t=None):
    t = t or now_ms()
    return {
        "id": new_id(), "create_at": t, "update_at": t, "edit_at": 0,
        "delete_at": 0, "is_pinned": False, "user_id": user_id,
        "channel_id": channel_id, "root_id": root_id, "original_id": "",
        "message": message, "type": ptype,
        "props": props if props is not None else {},
        "hashtags": parse_hashtags(message),
        "file_ids": file_ids if file_ids is not None else [],
        "pending_post_id": pending_post_id, "has_reactions": False,
        "reply_count": 0, "last_reply_at": 0, "participants": None,
    }


POST_KEYS = ["id", "create_at", "update_at", "edit_at", "delete_at",
             "is_pinned", "user_id", "channel_id", "root_id", "original_id",
             "message", "type", "props", "hashtags", "file_ids",
             "pending_post_id", "has_reactions", "reply_count",
             "last_reply_at", "participants"]


def post_out(p, strip=True, reactions=None):
    """The Post as clients see it (field order of model.Post; action
    integrations stripped unless strip is False)."""
    out = {}
    for k in POST_KEYS:
        if k == "has_reactions":
            if p.get(k):
                out[k] = True
            continue
        if k == "props":
            out[k] = strip_integrations(p[k]) if strip else copy.deepcopy(p[k])
            continue
        out[k] = copy.deepcopy(p[k])
    meta = {}
    if reactions:
        meta["reactions"] = [dict(r) for r in reactions]
    out["metadata"] = meta
    return out


def post_json(p, reactions=None):
    """post.ToJSON(): the string clients get in data.post."""
    return gojson(post_out(p, True, reactions))


def reaction_out(r):
    return {"user_id": r["user_id"], "post_id": r["post_id"],
            "emoji_name": r["emoji_name"], "create_at": r["create_at"],
            "update_at": r["update_at"], "delete_at": r["delete_at"],
            "remote_id": "", "channel_id": r["channel_id"]}


_CODE_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9.\-_]+)")


def explicit_mentions(message, usernames):
    """(set of mentioned usernames, channel-wide mention?) — a reduced
    getExplicitMentions: code is ignored, trailing punctuation trimmed."""
    text = _CODE_SPAN.sub(" ", _CODE_FENCE.sub(" ", message))
    names = set()
    channel_wide = False
    for m in _MENTION.finditer(text):
        name = m.group(1).lower()
        while name and name not in usernames and name[-1] in ".-_":
            name = name[:-1]
        if name in ("channel", "all", "here"):
            channel_wide = True
        elif name in usernames:
            names.add(name)
    return names, channel_wide
