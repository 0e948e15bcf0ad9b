/*
 * audit_fold.c - files the logs of reads under their customers.
 *
 * A company's read is first committed, within the flush interval, to a
 * log of reads keyed by time: its keys land at one end of the B-tree, so
 * a batch of thousands of reads dirties a few dozen pages.  Filing each
 * read under its customer at once would dirty one page per customer
 * instead, and at tens of thousands of reads a second that write load was
 * most of what the audit trail cost the fetch path.
 *
 * There are two logs: reads go to one while the other is folded.  The
 * fold groups the closed log: reads of the same fields by the same
 * company under the same grant become one record, with a count and the
 * first and last time when there was more than one, filed under the
 * customer.  Groups are filed in key order, STEP_GROUPS per transaction
 * (a write transaction's dirty pages stay allocated by LMDB for reuse, so
 * its size bounds the daemon's memory, and the queue of reads is emptied
 * between steps); each step records the last group it filed in the log
 * itself, so after a crash the next fold resumes after it.  The last step
 * empties the log (mdb_drop, no per-entry deletes).  No read is lost or
 * counted twice.  Reads of a customer deleted meanwhile are dropped, not
 * resurrected.
 *
 * A fold holds at most a chunk of groups in memory (FOLD_GROUPS unless
 * told otherwise).  When new reads come faster than they can be filed
 * (every cold read is a record of its own), the closed log grows past
 * that: the fold then takes the log a chunk at a time, from its oldest
 * entry up to a stop key, and the chunk's last step deletes the entries
 * below the stop key instead of dropping the log.  The mark names the
 * chunk it belongs to (the whole log, or the entries below its stop key),
 * so that a fold resumed after a crash rebuilds exactly that chunk.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"

#define STEP_GROUPS 128	  /* records filed per transaction */
#define FOLD_GROUPS 16384 /* groups held in memory at once: about 4.5 MiB */
#define IDS ((size_t)2 * BROKER_ID_LEN) /* customer and grant ids */
#define HEAD (IDS + 1)			  /* and the company's length */

/* One read in the log, as its value holds it. */
struct read {
	const unsigned char *cid, *grant, *company, *fields;
	size_t company_len, fields_len;
};

size_t
broker_audit_log_size(const char *company, size_t fields_len)
{
	return HEAD + strlen(company) + fields_len;
}

int
broker_audit_log_value(unsigned char *out, size_t cap, const char *cid,
    const char *grant, const char *company, const char *fields,
    size_t fields_len)
{
	size_t cl = strlen(company);

	if (strlen(cid) != BROKER_ID_LEN || strlen(grant) != BROKER_ID_LEN ||
	    cl > BROKER_CLIENT_ID_MAX ||
	    cap < broker_audit_log_size(company, fields_len))
		return BROKER_E_INVAL;
	/* Fixed-size and length-prefixed parts: no terminators by design. */
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
	memcpy(out, cid, BROKER_ID_LEN);
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
	memcpy(out + BROKER_ID_LEN, grant, BROKER_ID_LEN);
	out[IDS] = (unsigned char)cl;
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
	memcpy(out + HEAD, company, cl);
	memcpy(out + HEAD + cl, fields, fields_len);
	return 0;
}

/* Printable ASCII without quote or backslash: safe inside a JSON string. */
static int
plain(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == '"' || p[i] == '\\' || p[i] < 0x21 || p[i] > 0x7e)
			return 0;
	return 1;
}

/* Splits a log value; stored bytes are untrusted. */
static int
parse(const unsigned char *v, size_t len, struct read *r)
{
	size_t head = HEAD;

	if (len < head + 2)
		return BROKER_E_CORRUPT;
	r->cid = v;
	r->grant = v + BROKER_ID_LEN;
	r->company_len = v[IDS];
	r->company = v + head;
	if (len < head + r->company_len + 2)
		return BROKER_E_CORRUPT;
	r->fields = r->company + r->company_len;
	r->fields_len = len - head - r->company_len;
	/* The record text embeds these bytes unescaped. */
	if (!plain(v, IDS) || !plain(r->company, r->company_len) ||
	    r->fields[0] != '[' || r->fields[r->fields_len - 1] != ']')
		return BROKER_E_CORRUPT;
	return 0;
}



/* Reads that fold into one record; owns a copy of its bytes. */
struct group {
	unsigned char *bytes; /* the log value of its first read */
	size_t len;
	uint64_t hash;
	int64_t first, last;
	uint32_t last_seq; /* the log's, so equal times keep their order */
	uint64_t count;
};

/* The mark's first byte: which chunk its fold took.  An older mark, a
 * group's bytes alone, starts with a printable byte: the whole log. */
#define MARK_WHOLE 0x00 /* the whole log */
#define MARK_BELOW 0x01 /* the entries below the stop key that follows */

/* What the chunk being built takes of the log. */
enum chunk {
	CHUNK_CAPPED, /* up to max groups; becomes BELOW if the log goes on */
	CHUNK_WHOLE,  /* all of it, whatever its size: a resumed fold whose
			 mark says so */
	CHUNK_BELOW   /* the entries below stop; the log goes on */
};

struct broker_audit_fold {
	enum broker_db log;
	size_t max; /* groups a capped chunk may hold */
	enum chunk chunk;
	unsigned char stop[BROKER_AUDIT_LKEY_LEN];
	struct group *g; /* open addressing, cap a power of two */
	size_t cap, n;
	struct group **order; /* the groups in key order, once built */
	size_t next, pending; /* filed before it; after this step commits */
	int built;
	unsigned char *mark; /* the last group filed by an earlier run */
	size_t marklen;
	struct broker_audit_fold_stats st;
	char *text;
	size_t textcap;
};

/* The key under which a step notes its progress: after every time. */
static const unsigned char mark_key[BROKER_AUDIT_LKEY_LEN] = { 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* FNV-1a: the customer, grant, company and fields are the whole value. */
static uint64_t
hash_of(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return h;
}

/* Doubles the table when half full, so probes stay short. */
static int
grow(struct broker_audit_fold *f)
{
	size_t cap = f->cap * 2;
	struct group *g = calloc(cap, sizeof(*g));

	if (g == NULL)
		return BROKER_E_NOMEM;
	for (size_t i = 0; i < f->cap; i++) {
		size_t j;

		if (f->g[i].bytes == NULL)
			continue;
		j = (size_t)f->g[i].hash & (cap - 1);
		while (g[j].bytes != NULL)
			j = (j + 1) & (cap - 1);
		g[j] = f->g[i];
	}
	free(f->g);
	f->g = g;
	f->cap = cap;
	return 0;
}

static int
add(struct broker_audit_fold *f, const unsigned char *v, size_t len, int64_t ts,
    uint32_t seq)
{
	uint64_t h = hash_of(v, len);
	struct group *g;
	size_t i;
	int rc;

	if (2 * (f->n + 1) > f->cap && (rc = grow(f)) != 0)
		return rc;
	i = (size_t)h & (f->cap - 1);

	while ((g = &f->g[i])->bytes != NULL) {
		if (g->hash == h && g->len == len && memcmp(g->bytes, v, len) == 0)
			break;
		i = (i + 1) & (f->cap - 1);
	}
	if (g->bytes == NULL) {
		if (len == 0 || (g->bytes = malloc(len)) == NULL)
			return BROKER_E_NOMEM;
		memcpy(g->bytes, v, len);
		g->len = len;
		g->hash = h;
		g->first = g->last = ts;
		g->last_seq = seq;
		f->n++;
	}
	g->first = ts < g->first ? ts : g->first;
	/* The log is in (time, seq) order: a later entry is the latest. */
	if (ts >= g->last) {
		g->last = ts;
		g->last_seq = seq;
	}
	g->count++;
	return 0;
}

/* LMDB's order of keys, and the key order of groups: their log values
 * (customer id first). */
static int
cmp_bytes(const unsigned char *a, size_t al, const unsigned char *b,
    size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c != 0 ? c : (al > bl) - (al < bl);
}

static int
collect(void *arg, const void *key, size_t klen, const void *val, size_t len)
{
	struct broker_audit_fold *f = arg;
	const unsigned char *k = key;
	struct read r;

	if (klen == sizeof(mark_key) && memcmp(k, mark_key, klen) == 0)
		return 0; /* read by build */
	if (f->chunk == CHUNK_BELOW) {
		/* A resumed chunk: exactly the entries below its stop key. */
		if (cmp_bytes(k, klen, f->stop, sizeof(f->stop)) >= 0)
			return 1;
	} else if (f->chunk == CHUNK_CAPPED && f->n == f->max &&
	    klen == BROKER_AUDIT_LKEY_LEN) {
		f->chunk = CHUNK_BELOW;
		memcpy(f->stop, k, klen);
		return 1;
	}
	f->st.entries++;
	/* A damaged entry is dropped with the others, not folded. */
	if (klen != BROKER_AUDIT_LKEY_LEN || parse(val, len, &r) != 0) {
		f->st.corrupt++;
		return 0;
	}
	return add(f, val, len, (int64_t)broker_get64(k), broker_get32(k + 8));
}

static int
cmp_groups(const void *a, const void *b)
{
	const struct group *x = *(const struct group *const *)a;
	const struct group *y = *(const struct group *const *)b;

	return cmp_bytes(x->bytes, x->len, y->bytes, y->len);
}

/* Lets go of one chunk's groups, keeping the table for the next. */
static void
release_chunk(struct broker_audit_fold *f)
{
	for (size_t i = 0; i < f->cap; i++)
		free(f->g[i].bytes);
	memset(f->g, 0, f->cap * sizeof(*f->g));
	free(f->order);
	free(f->mark);
	f->order = NULL;
	f->mark = NULL;
	f->marklen = 0;
	f->n = f->next = f->pending = 0;
	f->built = 0;
	f->chunk = CHUNK_CAPPED;
}

static int
build_chunk(struct broker_txn *t, struct broker_audit_fold *f)
{
	const unsigned char *m;
	size_t k = 0, mlen;
	int rc;

	rc = broker_txn_get(t, f->log, mark_key, sizeof(mark_key),
	    (const void **)&m, &mlen, NULL);
	if (rc == 0) {
		/* Without a first byte of ours, an older mark: the whole log. */
		f->chunk = CHUNK_WHOLE;
		if (mlen > 0 && m[0] == MARK_WHOLE) {
			m++, mlen--;
		} else if (mlen > sizeof(f->stop) && m[0] == MARK_BELOW) {
			f->chunk = CHUNK_BELOW;
			memcpy(f->stop, m + 1, sizeof(f->stop));
			m += 1 + sizeof(f->stop);
			mlen -= 1 + sizeof(f->stop);
		}
		if (mlen > 0 && (f->mark = malloc(mlen)) == NULL)
			return BROKER_E_NOMEM;
		if (mlen > 0)
			memcpy(f->mark, m, mlen);
		f->marklen = mlen;
	} else if (rc != BROKER_E_NOTFOUND) {
		return rc;
	}
	rc = broker_txn_scan(t, f->log, NULL, 0, collect, f);
	if (rc < 0)
		return rc;
	/* An array of pointers: sizeof(struct group *) is meant. */
	if (f->n > 0 &&
	    (f->order = malloc(f->n * sizeof(struct group *))) == NULL)
		return BROKER_E_NOMEM;
	for (size_t i = 0; i < f->cap; i++)
		if (f->g[i].bytes != NULL)
			f->order[k++] = &f->g[i];
	if (f->n > 0)
		qsort(f->order, f->n, sizeof(struct group *), cmp_groups);
	while (f->mark != NULL && f->next < f->n &&
	    cmp_bytes(f->order[f->next]->bytes, f->order[f->next]->len,
		f->mark, f->marklen) <= 0)
		f->next++;
	f->built = 1;
	return 0;
}

/* Groups the chunk and orders the groups; skips what a mark says an
 * earlier run filed. */
static int
build(struct broker_txn *t, struct broker_audit_fold *f)
{
	struct broker_audit_fold_stats st = f->st;
	int rc;

	/* A build that failed part way is redone from scratch, or its
	 * groups would count the same reads twice. */
	if ((rc = build_chunk(t, f)) != 0) {
		release_chunk(f);
		f->st = st;
	}
	return rc;
}

/* The fields text is embedded as it stands: it must be a JSON array. */
static int
is_array(const struct read *r)
{
	json_t *a = json_loadb((const char *)r->fields, r->fields_len, 0,
	    NULL);
	int ok = json_is_array(a);

	json_decref(a);
	return ok;
}

/* The record text of a group, as put_record would store it. */
static int
text_of(struct broker_audit_fold *f, const struct group *g, size_t *len)
{
	struct read r;
	size_t need;
	int n;

	if (parse(g->bytes, g->len, &r) != 0 || !is_array(&r))
		return BROKER_E_CORRUPT;
	need = r.fields_len + r.company_len + IDS + 200;
	if (need > f->textcap) {
		char *p = realloc(f->text, need);

		if (p == NULL)
			return BROKER_E_NOMEM;
		f->text = p;
		f->textcap = need;
	}
	if (g->count == 1)
		n = snprintf(f->text, f->textcap,
		    "{\"company\":\"%.*s\",\"fields\":%.*s,\"grant\":\"%.*s\","
		    "\"kind\":\"profile.read\",\"ts\":%lld}",
		    (int)r.company_len, r.company, (int)r.fields_len, r.fields,
		    BROKER_ID_LEN, r.grant, (long long)g->last);
	else
		n = snprintf(f->text, f->textcap,
		    "{\"company\":\"%.*s\",\"count\":%llu,\"fields\":%.*s,"
		    "\"first_ts\":%lld,\"grant\":\"%.*s\","
		    "\"kind\":\"profile.read\",\"ts\":%lld}",
		    (int)r.company_len, r.company,
		    (unsigned long long)g->count, (int)r.fields_len, r.fields,
		    (long long)g->first, BROKER_ID_LEN, r.grant,
		    (long long)g->last);
	if (n < 0 || (size_t)n >= f->textcap)
		return BROKER_E_INVAL;
	*len = (size_t)n;
	return 0;
}

/* Files one group under its customer, if the customer still exists. */
static int
file_group(struct broker_txn *t, struct broker_audit_fold *f,
    const struct group *g)
{
	char cid[BROKER_ID_LEN + 1];
	const void *val;
	size_t vlen, len;
	int rc;

	memcpy(cid, g->bytes, BROKER_ID_LEN);
	cid[BROKER_ID_LEN] = '\0';
	rc = broker_txn_get(t, BROKER_DB_CUSTOMERS, cid, BROKER_ID_LEN, &val,
	    &vlen, NULL);
	if (rc == BROKER_E_NOTFOUND)
		return 0;
	if (rc == 0)
		rc = text_of(f, g, &len);
	if (rc == BROKER_E_CORRUPT) {
		f->st.corrupt++; /* dropped, like a damaged entry */
		return 0;
	}
	if (rc == 0)
		rc = broker_audit_put_text(t, cid, g->last, g->last_seq,
		    f->text, len);
	return rc;
}

int
broker_audit_fold_new(enum broker_db log, size_t max_groups,
    struct broker_audit_fold **out)
{
	struct broker_audit_fold *f;

	*out = NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return BROKER_E_NOMEM;
	f->log = log;
	f->max = max_groups > 0 ? max_groups : FOLD_GROUPS;
	f->cap = 1024;
	if ((f->g = calloc(f->cap, sizeof(*f->g))) == NULL) {
		free(f);
		return BROKER_E_NOMEM;
	}
	*out = f;
	return 0;
}

void
broker_audit_fold_free(struct broker_audit_fold *f)
{
	if (f == NULL)
		return;
	release_chunk(f);
	free(f->g);
	free(f->text);
	free(f);
}

/* Notes in the log that the chunk is filed up to and including g. */
static int
put_mark(struct broker_txn *t, struct broker_audit_fold *f,
    const struct group *g)
{
	int below = f->chunk == CHUNK_BELOW;
	size_t head = below ? 1 + sizeof(f->stop) : 1;

	if (head + g->len > f->textcap) {
		char *p = realloc(f->text, head + g->len);

		if (p == NULL)
			return BROKER_E_NOMEM;
		f->text = p;
		f->textcap = head + g->len;
	}
	f->text[0] = below ? MARK_BELOW : MARK_WHOLE;
	if (below)
		memcpy(f->text + 1, f->stop, sizeof(f->stop));
	memcpy(f->text + head, g->bytes, g->len);
	return broker_txn_put(t, f->log, mark_key, sizeof(mark_key), f->text,
	    head + g->len, 1);
}

int
broker_audit_fold_step(struct broker_txn *t, void *arg)
{
	struct broker_audit_fold *f = arg;
	size_t end;
	int rc;

	if (!f->built && (rc = build(t, f)) != 0)
		return rc;
	end = f->n - f->next > STEP_GROUPS ? f->next + STEP_GROUPS : f->n;
	for (size_t i = f->next; i < end; i++)
		if ((rc = file_group(t, f, f->order[i])) != 0)
			return rc;
	if (end < f->n) {
		rc = put_mark(t, f, f->order[end - 1]);
	} else if (f->chunk == CHUNK_BELOW) {
		/* The chunk's entries and its mark go together. */
		rc = broker_txn_del_below(t, f->log, f->stop, sizeof(f->stop));
		if (rc == 0)
			rc = broker_txn_del(t, f->log, mark_key,
			    sizeof(mark_key));
		if (rc == BROKER_E_NOTFOUND)
			rc = 0;
	} else if (f->st.entries > 0 || f->mark != NULL) {
		rc = broker_txn_drop_all(t, f->log);
	} else {
		rc = 0; /* an empty log: nothing to write, no commit to sync */
	}
	f->pending = end;
	return rc;
}

int
broker_audit_fold_advance(struct broker_audit_fold *f)
{
	f->st.records += f->pending - f->next;
	f->next = f->pending;
	if (!f->built || f->next != f->n)
		return 0;
	if (f->chunk != CHUNK_BELOW)
		return 1;
	release_chunk(f); /* the log goes on: the next step takes more */
	return 0;
}

static int
any_entry(void *arg, const void *key, size_t klen, const void *val,
    size_t len)
{
	(void)arg;
	(void)key;
	(void)klen;
	(void)val;
	(void)len;
	return 1;
}

int
broker_audit_log_state(struct broker_txn *t, enum broker_db log)
{
	const void *val;
	size_t len;
	int rc = broker_txn_get(t, log, mark_key, sizeof(mark_key), &val,
	    &len, NULL);

	if (rc == 0)
		return BROKER_AUDIT_LOG_MARKED;
	if (rc != BROKER_E_NOTFOUND)
		return rc;
	rc = broker_txn_scan(t, log, NULL, 0, any_entry, NULL);
	if (rc < 0)
		return rc;
	return rc == 0 ? BROKER_AUDIT_LOG_EMPTY : BROKER_AUDIT_LOG_READS;
}

void
broker_audit_fold_stats(const struct broker_audit_fold *f,
    struct broker_audit_fold_stats *out)
{
	*out = f->st;
}
