/* mm_wsseq.c — see mm_wsseq.h. */
#include "mm_wsseq.h"

#include <stdio.h>
#include <string.h>

void mm_wsseq_attempt(struct mm_wsseq *s, char *query, size_t len)
{
	s->resume_sent = s->conn_id[0] != '\0';
	s->confirmed = false;
	snprintf(s->attempt_id, sizeof(s->attempt_id), "%s", s->conn_id);
	if (s->resume_sent)
		snprintf(query, len, "?connection_id=%s&sequence_number=%ld", s->conn_id,
			 s->next_seq);
	else if (len)
		query[0] = '\0';
}

static void confirm(struct mm_wsseq *s, bool resumed, struct mm_wsseq_res *r)
{
	s->confirmed = true;
	r->connected = true;
	r->resumed = resumed;
}

void mm_wsseq_hello(struct mm_wsseq *s, const char *conn_id, long seq, struct mm_wsseq_res *r)
{
	memset(r, 0, sizeof(*r));
	if (!conn_id)
		conn_id = "";
	/* Resume asked for one id, the server started another: it could not
	 * replay what we missed. (Also when a grace period already confirmed
	 * the resume: the hello proves it wrong.) */
	bool lost = s->resume_sent && strcmp(conn_id, s->attempt_id) != 0;
	r->gap = lost;
	snprintf(s->conn_id, sizeof(s->conn_id), "%s", conn_id);
	s->next_seq = seq >= 0 ? seq + 1 : 1;
	if (!s->confirmed || lost)
		confirm(s, false, r);
}

void mm_wsseq_event(struct mm_wsseq *s, long seq, struct mm_wsseq_res *r)
{
	memset(r, 0, sizeof(*r));
	if (!s->confirmed && s->resume_sent)
		confirm(s, true, r); /* the replay started: the resume worked */
	if (seq >= 0) {
		if (seq < s->next_seq) {
			r->dup = true;
			return;
		}
		if (seq > s->next_seq && s->conn_id[0])
			r->gap = true;
		s->next_seq = seq + 1;
	}
	r->deliver = true;
}

void mm_wsseq_grace(struct mm_wsseq *s, struct mm_wsseq_res *r)
{
	memset(r, 0, sizeof(*r));
	if (!s->confirmed && s->resume_sent)
		confirm(s, true, r);
}
