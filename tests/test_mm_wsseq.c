/* test_mm_wsseq.c — WebSocket seq bookkeeping as a pure unit: resume
 * queries, replayed events dropped, gaps on a new connection id or a seq
 * jump, resume confirmation by replay or by the grace period. */
#include <criterion/criterion.h>
#include <string.h>

#include "mm_wsseq.h"

#define ID1 "aaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID2 "bbbbbbbbbbbbbbbbbbbbbbbbbb"

/* Fresh connection, hello, events 1..n. */
static void fresh(struct mm_wsseq *s, int n)
{
	char q[128];
	struct mm_wsseq_res r;
	memset(s, 0, sizeof(*s));
	mm_wsseq_attempt(s, q, sizeof(q));
	cr_assert_str_eq(q, "", "a first connection does not resume");
	mm_wsseq_hello(s, ID1, 0, &r);
	cr_assert(r.connected && !r.resumed && !r.gap);
	for (int i = 1; i <= n; i++) {
		mm_wsseq_event(s, i, &r);
		cr_assert(r.deliver && !r.dup && !r.gap && !r.connected);
	}
}

Test(mm_wsseq, resume_query_asks_for_next_seq)
{
	struct mm_wsseq s;
	fresh(&s, 5);
	char q[128];
	mm_wsseq_attempt(&s, q, sizeof(q));
	cr_assert_str_eq(q, "?connection_id=" ID1 "&sequence_number=6");
	cr_assert(!s.confirmed);
}

Test(mm_wsseq, replay_confirms_resume_and_drops_duplicates)
{
	struct mm_wsseq s;
	fresh(&s, 5);
	char q[128];
	mm_wsseq_attempt(&s, q, sizeof(q));
	struct mm_wsseq_res r;
	/* A server that replays from further back than asked: 4 and 5 were
	 * delivered before and are dropped; the first frame confirms. */
	mm_wsseq_event(&s, 4, &r);
	cr_assert(r.connected && r.resumed && !r.gap);
	cr_assert(!r.deliver && r.dup);
	mm_wsseq_event(&s, 5, &r);
	cr_assert(!r.deliver && r.dup && !r.connected);
	mm_wsseq_event(&s, 6, &r);
	cr_assert(r.deliver && !r.dup && !r.gap);
	mm_wsseq_event(&s, 7, &r);
	cr_assert(r.deliver);
	cr_assert_eq(s.next_seq, 8);
}

Test(mm_wsseq, lossless_resume_confirmed_by_grace)
{
	struct mm_wsseq s;
	fresh(&s, 2);
	char q[128];
	mm_wsseq_attempt(&s, q, sizeof(q));
	struct mm_wsseq_res r;
	mm_wsseq_grace(&s, &r);
	cr_assert(r.connected && r.resumed && !r.gap);
	mm_wsseq_grace(&s, &r);
	cr_assert(!r.connected, "confirmed once");
	mm_wsseq_event(&s, 3, &r);
	cr_assert(r.deliver && !r.connected);
}

Test(mm_wsseq, new_connection_id_is_a_gap)
{
	struct mm_wsseq s;
	fresh(&s, 9);
	char q[128];
	mm_wsseq_attempt(&s, q, sizeof(q));
	struct mm_wsseq_res r;
	mm_wsseq_hello(&s, ID2, 0, &r);
	cr_assert(r.gap && r.connected && !r.resumed);
	cr_assert_str_eq(s.conn_id, ID2);
	/* Seqs restart: 1 is new on this connection, not a replay. */
	mm_wsseq_event(&s, 1, &r);
	cr_assert(r.deliver && !r.dup && !r.gap);
}

Test(mm_wsseq, hello_after_grace_still_reports_gap)
{
	struct mm_wsseq s;
	fresh(&s, 3);
	char q[128];
	mm_wsseq_attempt(&s, q, sizeof(q));
	struct mm_wsseq_res r;
	mm_wsseq_grace(&s, &r);
	cr_assert(r.connected && r.resumed);
	/* A late hello with another id proves the resume lost events. */
	mm_wsseq_hello(&s, ID2, 0, &r);
	cr_assert(r.gap && r.connected && !r.resumed);
}

Test(mm_wsseq, seq_jump_is_a_gap)
{
	struct mm_wsseq s;
	fresh(&s, 3);
	struct mm_wsseq_res r;
	mm_wsseq_event(&s, 6, &r);
	cr_assert(r.gap && r.deliver);
	mm_wsseq_event(&s, 7, &r);
	cr_assert(!r.gap && r.deliver);
}

Test(mm_wsseq, events_without_seq_pass)
{
	struct mm_wsseq s;
	fresh(&s, 1);
	struct mm_wsseq_res r;
	mm_wsseq_event(&s, -1, &r);
	cr_assert(r.deliver && !r.dup && !r.gap);
	cr_assert_eq(s.next_seq, 2);
}
