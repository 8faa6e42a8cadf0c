"""fm_util — ids, clock, Go-compatible JSON and AppError for the fake Mattermost.

Everything here mirrors a small piece of the real server (see
/work/shared/reference/mattermost.md); the section of that file is named where
it matters.
"""

import base64
import json
import os
import re
import time

SERVER_VERSION = "9.11.0"          # model.CurrentVersion
BUILD_NUMBER = "12345"
CONFIG_HASH = "fakecfghash"
# X-Version-ID and hello.server_version: <ver>.<build>.<cfghash>.<licensed>
VERSION_ID = "%s.%s.%s.false" % (SERVER_VERSION, BUILD_NUMBER, CONFIG_HASH)

MAX_POST_RUNES = 16383             # PostMessageMaxRunesV2 (§3)
MAX_PROPS_RUNES = 800000           # PostPropsMaxRunes (§3)
MAX_FILE_IDS_RUNES = 300
MAX_PAYLOAD_BYTES = 300000         # ServiceSettings.MaximumPayloadSizeBytes default
MIN_READ = 512                     # bytes.MinRead (§2.1: cap is payload + MinRead)

_ALPHABET = "ybndrfg8ejkmcpqxot1uwisza345h769"
_TRANS = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET)


def new_id():
    """model.NewId: 16 random bytes, base32 with Mattermost's alphabet, 26 chars."""
    return base64.b32encode(os.urandom(16)).decode("ascii").translate(_TRANS)[:26]


_ID_RE = re.compile(r"^[A-Za-z0-9]{26}$")


def is_valid_id(s):
    return isinstance(s, str) and _ID_RE.match(s) is not None


_last_ms = 0


def now_ms():
    """Unix milliseconds. Strictly increasing inside one process (a deliberate
    simplification: two writes never share a timestamp, so ?since= is
    deterministic in tests)."""
    global _last_ms
    t = int(time.time() * 1000)
    if t <= _last_ms:
        t = _last_ms + 1
    _last_ms = t
    return t


def gojson(obj, sort_keys=False):
    """json.Marshal-like output: compact, raw UTF-8, HTML characters escaped
    as Go does (\\u003c \\u003e \\u0026, U+2028/2029)."""
    s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"),
                   sort_keys=sort_keys)
    return (s.replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029"))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(v):
    if isinstance(v, str):
        return _SURROGATE.sub("\ufffd", v)
    if isinstance(v, list):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {_clean(k): _clean(x) for k, x in v.items()}
    return v


def parse_json_body(raw):
    """Decodes a request body like Go's encoding/json would: invalid UTF-8
    and lone surrogate escapes become U+FFFD. Raises ValueError."""
    text = raw.decode("utf-8", "replace")
    return _clean(json.loads(text))


# English texts for the i18n ids the fake returns (server/i18n/en.json).
MESSAGES = {
    "api.context.404.app_error": "Sorry, we could not find the page.",
    "api.context.session_expired.app_error": "Invalid or expired session, please login again.",
    "api.context.token_provided.app_error": "Session is not OAuth but token was provided in the query string.",
    "api.context.permissions.app_error": "You do not have the appropriate permissions.",
    "api.context.invalid_body_param.app_error": "Invalid or missing {Name} in request body.",
    "api.context.invalid_url_param.app_error": "Invalid or missing {Name} parameter in request URL.",
    "api.context.invalid_param.app_error": "Invalid {Name} parameter.",
    "api.context.request_body_too_large.app_error": "The request body is too large.",
    "model.post.is_valid.message_length.app_error": "Message property is longer than the maximum permitted length.",
    "model.post.is_valid.props.app_error": "Invalid props.",
    "model.post.is_valid.file_ids.app_error": "Invalid file ids. Note that uploads are limited to 10 files maximum. Please use additional posts for more files.",
    "model.post.is_valid.root_id.app_error": "Invalid root id.",
    "model.post.is_valid.type.app_error": "Invalid type.",
    "api.post.create_post.root_id.app_error": "Invalid RootId parameter.",
    "api.post.create_post.channel_root_id.app_error": "Invalid ChannelId for RootId parameter.",
    "app.post.save.existing.app_error": "You cannot update an existing Post.",
    "app.post.get.app_error": "Unable to get the post.",
    "api.post.update_post.permissions_details.app_error": "Already deleted id={PostId}.",
    "api.post.do_action.action_id.app_error": "Invalid action id.",
    "api.post.do_action.action_integration.app_error": "Action integration error.",
    "api.reaction.save_reaction.user_id.app_error": "You are not allowed to perform this action.",
    "model.reaction.is_valid.emoji_name.app_error": "Invalid emoji name.",
    "model.reaction.is_valid.post_id.app_error": "Invalid post id.",
    "model.reaction.is_valid.user_id.app_error": "Invalid user id.",
    "app.user.missing_account.const": "Unable to find the user.",
    "app.user.get_by_username.app_error": "Unable to find an existing account matching your username for this team. This team may require an invite from the team owner to join.",
    "app.channel.get.existing.app_error": "Unable to find the existing channel.",
    "app.channel.get_by_name.missing.app_error": "Channel does not exist.",
    "app.channel.get_member.missing.app_error": "No channel member found for that user ID and channel ID.",
    "api.channel.create_direct_channel.invalid_user.app_error": "Invalid user ID for direct channel creation.",
    "app.team.get.find.app_error": "Unable to find the existing team.",
    "app.team.get_by_name.missing.app_error": "Unable to find the existing team.",
    "api.reaction.save_reaction.invalid.app_error": "Reaction is not valid.",
    "api.reaction.delete_reaction.user_id.app_error": "You are not allowed to perform this action.",
    "api.web_socket_router.no_action.app_error": "No websocket action.",
    "api.web_socket_router.bad_seq.app_error": "Invalid sequence for WebSocket message.",
    "api.web_socket_router.not_authenticated.app_error": "Not authenticated. Please log in and try again.",
    "api.web_socket_router.bad_action.app_error": "Unknown WebSocket action.",
    "api.websocket_handler.invalid_param.app_error": "Invalid {Name} parameter.",
    "fake.injected.app_error": "Error injected by the fake server.",
}


class AppError(Exception):
    """model.AppError. status is the HTTP status; params fill {Name}-style
    placeholders of the message."""

    def __init__(self, status, err_id, params=None, detail=""):
        super().__init__(err_id)
        self.status = status
        self.id = err_id
        self.params = params or {}
        self.detail = detail    # never sent: detailed_error is wiped (§2.1)

    def message(self):
        text = MESSAGES.get(self.id, self.id)
        try:
            return text.format(**self.params)
        except (KeyError, IndexError):
            return text

    def to_dict(self, request_id=""):
        d = {"id": self.id, "message": self.message(), "detailed_error": ""}
        if request_id:
            d["request_id"] = request_id
        if self.status:
            d["status_code"] = self.status
        return d


def invalid_body(name):
    return AppError(400, "api.context.invalid_body_param.app_error", {"Name": name})


def invalid_url(name):
    return AppError(400, "api.context.invalid_url_param.app_error", {"Name": name})


def permission_error():
    return AppError(403, "api.context.permissions.app_error")


def session_expired():
    return AppError(401, "api.context.session_expired.app_error")
