/*
 * mm_cmd.h — what a chat message asks of the bot. Pure: no I/O.
 *
 * A command is a message that starts with the trigger (SM_BOT_TRIGGER,
 * default "@claude"; compared case-insensitively, and followed by a blank
 * or the end): "@claude start acme/api@dev --worktree", "@claude stop",
 * "@claude keys down*3 enter". Anything else is not a command (in a
 * session's thread it is typed into the session).
 *
 *   start <org/repo[@branch] [--worktree[=name]] | project>
 *   stop | status | list | help
 *   keys <spec>            named keys (the spec is checked by the relay)
 *   resize <cols>x<rows>
 *   invite @user           the session owner lets another user type
 *
 * Malformed or unknown commands parse to MM_CMD_BAD with a short, helpful
 * message in err (never silence); err never echoes more than 40 bytes of
 * the user's text, with control bytes escaped.
 *
 * Ownership: mm_cmd_parse fills a caller-owned struct with malloc'ed words;
 * mm_cmd_free releases them (a zeroed struct is fine to free).
 * Errors: 0 (including MM_CMD_NONE and MM_CMD_BAD), -ENOMEM, -EINVAL.
 */
#ifndef MM_CMD_H
#define MM_CMD_H

#include <stddef.h>

#define MM_CMD_MAX_ARGS 8

enum mm_cmd_kind {
	MM_CMD_NONE,  /* not addressed to the bot */
	MM_CMD_BAD,   /* addressed to the bot but malformed: see err */
	MM_CMD_START,
	MM_CMD_STOP,
	MM_CMD_STATUS,
	MM_CMD_LIST,
	MM_CMD_HELP,
	MM_CMD_KEYS,
	MM_CMD_RESIZE,
	MM_CMD_INVITE,
};

struct mm_cmd {
	enum mm_cmd_kind kind;
	int argc;                      /* start: the words after "start" */
	char *argv[MM_CMD_MAX_ARGS];
	char *arg;                     /* keys: the spec; invite: the user name without '@' */
	unsigned cols, rows;           /* resize */
	char err[512];                 /* MM_CMD_BAD: what is wrong, and what would work */
};

int mm_cmd_parse(const char *trigger, const char *message, struct mm_cmd *out);
void mm_cmd_free(struct mm_cmd *c);

/* The help text (Markdown) for a trigger, malloc'ed. */
char *mm_cmd_help(const char *trigger);

#endif
