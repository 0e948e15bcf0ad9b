/*
 * metrics.c - request counters kept per thread, summed only when read.
 *
 * Each worker thread owns its counters and is their only writer, so the
 * hot path does a relaxed load and store on its own cache lines: no lock
 * and no shared atomic read-modify-write.  GET /metrics walks every
 * thread's block and renders Prometheus text format.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "api/api_int.h"

/* Upper bounds of the latency histogram, in microseconds. */
static const uint64_t lat_bounds[API_LAT_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	1000000,
};

struct counters {
	struct counters *next;
	_Atomic uint64_t lat[API_LAT_BUCKETS + 1]; /* last: +Inf */
	_Atomic uint64_t lat_sum;
	_Atomic uint64_t bytes;
	_Atomic uint64_t conn_opened;
	_Atomic uint64_t conn_closed;
	_Atomic uint64_t cache[API_N_CACHES][2]; /* misses, hits */
	_Atomic uint64_t events[API_N_EVENTS];
	/*
	 * (api_n_routes + 1) x API_N_CLASSES by class, then
	 * (api_n_routes + 1) x N_STATUSES by exact status.
	 */
	_Atomic uint64_t req[];
};

/* The statuses the broker answers with; anything else counts as "other". */
static const unsigned statuses[] = { 200, 201, 204, 302, 304, 400, 401, 403,
	404, 405, 409, 411, 412, 413, 415, 428, 429, 431, 499, 500, 503, 507 };
#define N_STATUSES (sizeof(statuses) / sizeof(statuses[0]) + 1)

static size_t
status_index(unsigned status)
{
	for (size_t i = 0; i < N_STATUSES - 1; i++)
		if (statuses[i] == status)
			return i;
	return N_STATUSES - 1;
}

/* Where the exact-status counters start. */
static size_t
by_status_base(void)
{
	return (api_n_routes + 1) * API_N_CLASSES;
}

static _Atomic(struct counters *) all;
static _Atomic unsigned generation = 1;
static _Thread_local struct counters *mine;
static _Thread_local unsigned mine_gen;

/* Single writer: a relaxed load and store, no locked instruction. */
static void
bump(_Atomic uint64_t *c, uint64_t by)
{
	atomic_store_explicit(c,
	    atomic_load_explicit(c, memory_order_relaxed) + by,
	    memory_order_relaxed);
}

static uint64_t
get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* This thread's block, registered once (lock-free push). */
static struct counters *
mine_get(void)
{
	unsigned gen = atomic_load_explicit(&generation, memory_order_acquire);
	size_t n = (api_n_routes + 1) * (API_N_CLASSES + N_STATUSES);
	struct counters *c;

	if (mine != NULL && mine_gen == gen)
		return mine;
	c = calloc(1, sizeof(*c) + n * sizeof(c->req[0]));
	if (c == NULL)
		return NULL;
	c->next = atomic_load_explicit(&all, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&all, &c->next, c,
	    memory_order_release, memory_order_relaxed))
		;
	mine = c;
	mine_gen = gen;
	return c;
}

void
api_metrics_request(size_t route_idx, unsigned status, uint64_t usec,
    size_t bytes)
{
	struct counters *c = mine_get();
	unsigned cls = status >= 100 && status < 600 ? status / 100 - 1
						     : API_CLASS_5XX;
	size_t b = 0;

	if (c == NULL)
		return;
	if (route_idx > api_n_routes)
		route_idx = api_n_routes;
	bump(&c->req[route_idx * API_N_CLASSES + cls], 1);
	bump(&c->req[by_status_base() + route_idx * N_STATUSES +
		 status_index(status)], 1);
	while (b < API_LAT_BUCKETS && usec > lat_bounds[b])
		b++;
	bump(&c->lat[b], 1);
	bump(&c->lat_sum, usec);
	bump(&c->bytes, bytes);
}

void
api_metrics_cache(enum api_cache_kind k, int hit)
{
	struct counters *c = mine_get();

	if (c != NULL && (unsigned)k < API_N_CACHES)
		bump(&c->cache[k][hit != 0], 1);
}

void
api_metrics_event(enum api_event ev)
{
	struct counters *c = mine_get();

	if (c != NULL && (unsigned)ev < API_N_EVENTS)
		bump(&c->events[ev], 1);
}

uint64_t
api_metrics_open_connections(void)
{
	uint64_t opened = 0, closed = 0;

	for (struct counters *c = atomic_load(&all); c; c = c->next) {
		opened += get(&c->conn_opened);
		closed += get(&c->conn_closed);
	}
	return opened > closed ? opened - closed : 0;
}

void
api_metrics_connection(int opened)
{
	struct counters *c = mine_get();

	if (c != NULL)
		bump(opened ? &c->conn_opened : &c->conn_closed, 1);
}

void
api_metrics_shutdown(void)
{
	struct counters *c = atomic_exchange(&all, NULL), *next;

	atomic_fetch_add(&generation, 1);
	for (; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
}

static const char *const class_names[API_N_CLASSES] = { "1xx", "2xx", "3xx",
	"4xx", "5xx" };

char *
api_metrics_render(const struct api_server *srv, size_t *len)
{
	struct counters *head = atomic_load_explicit(&all, memory_order_acquire);
	struct broker_store_stats st;
	uint64_t lat[API_LAT_BUCKETS + 1] = { 0 }, sum = 0, bytes = 0;
	uint64_t opened = 0, closed = 0, cum = 0;
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	*len = 0;
	if ((f = open_memstream(&buf, &size)) == NULL)
		return NULL;
	fputs("# HELP ccx_requests_total Requests answered, by route and "
	      "status class.\n# TYPE ccx_requests_total counter\n", f);
	for (size_t r = 0; r <= api_n_routes; r++) {
		const char *name = r < api_n_routes ? api_routes[r].name
						    : "unmatched";
		for (int k = 0; k < API_N_CLASSES; k++) {
			uint64_t v = 0;

			for (struct counters *c = head; c; c = c->next)
				v += get(&c->req[r * API_N_CLASSES + k]);
			if (v != 0)
				fprintf(f, "ccx_requests_total{route=\"%s\","
				    "class=\"%s\"} %llu\n", name,
				    class_names[k], (unsigned long long)v);
		}
	}
	fputs("# HELP ccx_responses_total Responses, by route and exact "
	      "status.\n# TYPE ccx_responses_total counter\n", f);
	for (size_t r = 0; r <= api_n_routes; r++) {
		const char *name = r < api_n_routes ? api_routes[r].name
						    : "unmatched";
		for (size_t k = 0; k < N_STATUSES; k++) {
			uint64_t v = 0;

			for (struct counters *c = head; c; c = c->next)
				v += get(&c->req[by_status_base() +
				    r * N_STATUSES + k]);
			if (v == 0)
				continue;
			if (k < N_STATUSES - 1)
				fprintf(f, "ccx_responses_total{route=\"%s\","
				    "status=\"%u\"} %llu\n", name, statuses[k],
				    (unsigned long long)v);
			else
				fprintf(f, "ccx_responses_total{route=\"%s\","
				    "status=\"other\"} %llu\n", name,
				    (unsigned long long)v);
		}
	}
	for (struct counters *c = head; c; c = c->next) {
		for (int b = 0; b <= API_LAT_BUCKETS; b++)
			lat[b] += get(&c->lat[b]);
		sum += get(&c->lat_sum);
		bytes += get(&c->bytes);
		opened += get(&c->conn_opened);
		closed += get(&c->conn_closed);
	}
	fputs("# HELP ccx_request_duration_seconds Time from request to "
	      "response.\n# TYPE ccx_request_duration_seconds histogram\n", f);
	for (int b = 0; b <= API_LAT_BUCKETS; b++) {
		cum += lat[b];
		if (b < API_LAT_BUCKETS)
			fprintf(f, "ccx_request_duration_seconds_bucket{le=\"%g\"}"
			    " %llu\n", (double)lat_bounds[b] / 1e6,
			    (unsigned long long)cum);
		else
			fprintf(f, "ccx_request_duration_seconds_bucket{le=\"+Inf\"}"
			    " %llu\n", (unsigned long long)cum);
	}
	fprintf(f, "ccx_request_duration_seconds_sum %.6f\n"
	    "ccx_request_duration_seconds_count %llu\n",
	    (double)sum / 1e6, (unsigned long long)cum);
	fprintf(f, "# HELP ccx_response_bytes_total Response body bytes.\n"
	    "# TYPE ccx_response_bytes_total counter\n"
	    "ccx_response_bytes_total %llu\n", (unsigned long long)bytes);
	fprintf(f, "# HELP ccx_connections_total Connections accepted.\n"
	    "# TYPE ccx_connections_total counter\n"
	    "ccx_connections_total %llu\n"
	    "# HELP ccx_connections_open Connections open now.\n"
	    "# TYPE ccx_connections_open gauge\n"
	    "ccx_connections_open %llu\n", (unsigned long long)opened,
	    (unsigned long long)(opened >= closed ? opened - closed : 0));
	broker_store_stats(srv->store, &st);
	fprintf(f, "# HELP ccx_store_commits_total Durable shared commits.\n"
	    "# TYPE ccx_store_commits_total counter\n"
	    "ccx_store_commits_total %llu\n"
	    "# HELP ccx_store_writes_total Writes committed.\n"
	    "# TYPE ccx_store_writes_total counter\n"
	    "ccx_store_writes_total %llu\n"
	    "# HELP ccx_store_write_errors_total Writes that failed.\n"
	    "# TYPE ccx_store_write_errors_total counter\n"
	    "ccx_store_write_errors_total %llu\n"
	    "# HELP ccx_store_batch_max Largest number of writes in one commit.\n"
	    "# TYPE ccx_store_batch_max gauge\n"
	    "ccx_store_batch_max %llu\n"
	    "# HELP ccx_store_queue_depth Writes waiting for a commit.\n"
	    "# TYPE ccx_store_queue_depth gauge\n"
	    "ccx_store_queue_depth %llu\n"
	    "# HELP ccx_store_map_bytes The most the store may grow to.\n"
	    "# TYPE ccx_store_map_bytes gauge\n"
	    "ccx_store_map_bytes %llu\n"
	    "# HELP ccx_store_file_bytes The store's high-water mark.\n"
	    "# TYPE ccx_store_file_bytes gauge\n"
	    "ccx_store_file_bytes %llu\n",
	    (unsigned long long)st.commits, (unsigned long long)st.writes,
	    (unsigned long long)st.write_errors,
	    (unsigned long long)st.max_batch,
	    (unsigned long long)st.queue_depth,
	    (unsigned long long)st.map_bytes,
	    (unsigned long long)st.file_bytes);
	if (srv->audit != NULL) {
		struct broker_audit_stats as;

		broker_audit_stats(srv->audit, &as);
		fprintf(f, "# HELP ccx_audit_reads_logged_total Company reads "
		    "committed to the log of reads.\n"
		    "# TYPE ccx_audit_reads_logged_total counter\n"
		    "ccx_audit_reads_logged_total %llu\n"
		    "# HELP ccx_audit_queue_waits_total Times a fetch waited "
		    "for room in the queue of reads.\n"
		    "# TYPE ccx_audit_queue_waits_total counter\n"
		    "ccx_audit_queue_waits_total %llu\n"
		    "# HELP ccx_audit_reads_folded_total Logged reads filed "
		    "in the customers' trails.\n"
		    "# TYPE ccx_audit_reads_folded_total counter\n"
		    "ccx_audit_reads_folded_total %llu\n"
		    "# HELP ccx_audit_read_records_total Trail records those "
		    "reads became (repeated reads share one).\n"
		    "# TYPE ccx_audit_read_records_total counter\n"
		    "ccx_audit_read_records_total %llu\n"
		    "# HELP ccx_audit_purged_total Records removed by the "
		    "retention purge.\n"
		    "# TYPE ccx_audit_purged_total counter\n"
		    "ccx_audit_purged_total %llu\n"
		    "# HELP ccx_audit_commit_failures_total Commits of the log "
		    "of reads that failed (each is retried).\n"
		    "# TYPE ccx_audit_commit_failures_total counter\n"
		    "ccx_audit_commit_failures_total %llu\n"
		    "# HELP ccx_audit_reads_refused_total Fetches refused "
		    "because their read could not be queued in time.\n"
		    "# TYPE ccx_audit_reads_refused_total counter\n"
		    "ccx_audit_reads_refused_total %llu\n",
		    (unsigned long long)as.logged,
		    (unsigned long long)as.waits,
		    (unsigned long long)as.folded,
		    (unsigned long long)as.filed,
		    (unsigned long long)as.purged,
		    (unsigned long long)as.failed,
		    (unsigned long long)as.refused);
	}
	{
		static const char *const names[API_N_CACHES] = {
			[API_CACHE_TOKEN] = "token",
			[API_CACHE_PROJECTION] = "projection",
			[API_CACHE_ACCESS] = "access_check",
		};

		fprintf(f, "# HELP ccx_cache_lookups_total Lookups in the "
		    "verified-token and projection caches, and fetches whose "
		    "token's last check of access still held (hit) or that "
		    "checked in full (miss).\n"
		    "# TYPE ccx_cache_lookups_total counter\n");
		for (int k = 0; k < API_N_CACHES; k++)
			for (int hit = 1; hit >= 0; hit--) {
				uint64_t v = 0;

				for (struct counters *c = head; c; c = c->next)
					v += get(&c->cache[k][hit]);
				fprintf(f, "ccx_cache_lookups_total{cache=\"%s\","
				    "result=\"%s\"} %llu\n", names[k],
				    hit ? "hit" : "miss", (unsigned long long)v);
			}
	}
	{
		size_t tn, tb, pn, pb;

		api_cache_size(srv->tokens, &tn, &tb);
		api_cache_size(srv->projections, &pn, &pb);
		fprintf(f, "# HELP ccx_cache_entries Entries the verified-token "
		    "and projection caches hold.\n"
		    "# TYPE ccx_cache_entries gauge\n"
		    "ccx_cache_entries{cache=\"token\"} %zu\n"
		    "ccx_cache_entries{cache=\"projection\"} %zu\n"
		    "# HELP ccx_cache_max_entries The caches' caps "
		    "(--token-cache, --projection-cache).\n"
		    "# TYPE ccx_cache_max_entries gauge\n"
		    "ccx_cache_max_entries{cache=\"token\"} %u\n"
		    "ccx_cache_max_entries{cache=\"projection\"} %u\n"
		    "# HELP ccx_cache_bytes What the projection cache's answers "
		    "are counted as holding, against its byte cap.\n"
		    "# TYPE ccx_cache_bytes gauge\n"
		    "ccx_cache_bytes{cache=\"projection\"} %zu\n"
		    "# HELP ccx_cache_max_bytes The projection cache's byte cap "
		    "(--projection-cache-bytes).\n"
		    "# TYPE ccx_cache_max_bytes gauge\n"
		    "ccx_cache_max_bytes{cache=\"projection\"} %zu\n",
		    tn, pn, srv->cfg.token_cache, srv->cfg.projection_cache, pb,
		    srv->cfg.projection_cache_bytes);
	}
	{
		static const char *const names[API_N_EVENTS][2] = {
			[API_EV_TOKEN_ISSUED] = { "ccx_tokens_issued_total",
				"Access tokens signed." },
			[API_EV_FETCH] = { "ccx_profile_fetches_total",
				"Profiles served to companies (200 or 304)." },
			[API_EV_GRANT_REVOKED] = { "ccx_grants_revoked_total",
				"Grants revoked by customers." },
			[API_EV_TOKEN_REVOKED] = { "ccx_tokens_revoked_total",
				"Revocation requests answered (RFC 7009: "
				"unknown tokens included)." },
		};

		for (int e = 0; e < API_N_EVENTS; e++) {
			uint64_t v = 0;

			for (struct counters *c = head; c; c = c->next)
				v += get(&c->events[e]);
			fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
			    names[e][0], names[e][1], names[e][0], names[e][0],
			    (unsigned long long)v);
		}
	}
	{
		struct broker_txn *t = NULL;
		const struct api_keyring *k = NULL;

		/* The current ring, reloaded if a key changed meanwhile. */
		if (broker_read_begin(srv->store, &t) == 0) {
			k = api_keys((struct api_server *)(uintptr_t)srv, t);
			broker_read_end(t);
		}
		int64_t now = api_wall_now(), newest = INT64_MIN;

		for (size_t i = 0; k != NULL && i < k->n; i++)
			if (k->priv[i] != NULL && k->activates[i] <= now &&
			    k->activates[i] > newest)
				newest = k->activates[i];
		if (newest != INT64_MIN)
			fprintf(f, "# HELP ccx_signing_key_age_seconds Time since "
			    "the signing key took over.\n"
			    "# TYPE ccx_signing_key_age_seconds gauge\n"
			    "ccx_signing_key_age_seconds %lld\n",
			    (long long)(now - newest));
	}
	fprintf(f, "# HELP ccx_accesslog_dropped_total Access-log lines "
	    "dropped because a buffer was full.\n"
	    "# TYPE ccx_accesslog_dropped_total counter\n"
	    "ccx_accesslog_dropped_total %llu\n",
	    (unsigned long long)api_accesslog_dropped());
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}
