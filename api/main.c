/*
 * main.c - ccx-broker: parses flags, starts the server, waits for signals.
 *
 * No logic lives here beyond argument parsing and the signal loop: SIGTERM
 * and SIGINT stop gracefully; SIGHUP is reserved for reloading.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

static const char usage[] =
    "usage: ccx-broker [--data DIR] [--listen HOST:PORT] [--issuer URL]\n"
    "                  [--mtls-listen HOST:PORT]\n"
    "                  [--threads N] [--worker-affinity on|off]\n"
    "                  [--max-connections N]\n"
    "                  [--max-connections-per-ip N] [--connection-memory BYTES]\n"
    "                  [--connection-timeout SECONDS] [--max-body BYTES]\n"
    "                  [--shutdown-timeout SECONDS] [--access-log FILE|-]\n"
    "                  [--log-flush-ms MS] [--map-size BYTES]\n"
    "                  [--tls-priorities STRING]\n"
    "                  [--session-idle SECONDS] [--session-lifetime SECONDS]\n"
    "                  [--throttle-window SECONDS] [--login-max-failures N]\n"
    "                  [--ip-max-failures N] [--signup-max N]\n"
    "                  [--session-create-max N]\n"
    "                  [--grant-create-max N] [--grant-max N]\n"
    "                  [--grant-token-max N] [--refresh-families-max N]\n"
    "                  [--refresh-reuse-window SECONDS]\n"
    "                  [--kdf-memory KIB] [--kdf-time N] [--kdf-threads N]\n"
    "                  [--token-lifetime SECONDS] [--code-lifetime SECONDS]\n"
    "                  [--jwks-max-age SECONDS]\n"
    "                  [--token-cache N] [--projection-cache N]\n"
    "                  [--projection-cache-bytes BYTES]\n"
    "                  [--audit-flush-ms MS] [--audit-fold-ms MS]\n"
    "                  [--audit-wait-ms MS] [--audit-queue N]\n"
    "                  [--audit-retention-days DAYS]\n";

enum {
	OPT_DATA = 256, OPT_LISTEN, OPT_MTLS_LISTEN, OPT_ISSUER, OPT_THREADS, OPT_MAXCONN,
	OPT_MAXCONN_IP, OPT_CONNMEM, OPT_CONNTIMEOUT, OPT_MAXBODY,
	OPT_SHUTDOWN, OPT_ACCESSLOG, OPT_FLUSH, OPT_MAPSIZE, OPT_TLSPRIO,
	OPT_SESSION_IDLE, OPT_SESSION_LIFE, OPT_THROTTLE_WINDOW,
	OPT_LOGIN_MAX, OPT_IP_MAX, OPT_SIGNUP_MAX, OPT_KDF_MEM, OPT_KDF_TIME,
	OPT_KDF_THREADS, OPT_TOKEN_LIFE, OPT_CODE_LIFE, OPT_JWKS_AGE, OPT_TOKEN_CACHE,
	OPT_AUDIT_FLUSH, OPT_AUDIT_FOLD, OPT_AUDIT_WAIT, OPT_AUDIT_QUEUE,
	OPT_AUDIT_RETENTION, OPT_PROJ_CACHE, OPT_PROJ_BYTES, OPT_GRANT_CREATE_MAX,
	OPT_GRANT_MAX, OPT_REFRESH_REUSE, OPT_GRANT_TOKEN_MAX,
	OPT_REFRESH_FAMILIES, OPT_SESSION_CREATE_MAX, OPT_AFFINITY, OPT_HELP,
};

static const struct option options[] = {
	{ "data", required_argument, NULL, OPT_DATA },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "mtls-listen", required_argument, NULL, OPT_MTLS_LISTEN },
	{ "issuer", required_argument, NULL, OPT_ISSUER },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "worker-affinity", required_argument, NULL, OPT_AFFINITY },
	{ "max-connections", required_argument, NULL, OPT_MAXCONN },
	{ "max-connections-per-ip", required_argument, NULL, OPT_MAXCONN_IP },
	{ "connection-memory", required_argument, NULL, OPT_CONNMEM },
	{ "connection-timeout", required_argument, NULL, OPT_CONNTIMEOUT },
	{ "max-body", required_argument, NULL, OPT_MAXBODY },
	{ "shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN },
	{ "access-log", required_argument, NULL, OPT_ACCESSLOG },
	{ "log-flush-ms", required_argument, NULL, OPT_FLUSH },
	{ "map-size", required_argument, NULL, OPT_MAPSIZE },
	{ "tls-priorities", required_argument, NULL, OPT_TLSPRIO },
	{ "session-idle", required_argument, NULL, OPT_SESSION_IDLE },
	{ "session-lifetime", required_argument, NULL, OPT_SESSION_LIFE },
	{ "throttle-window", required_argument, NULL, OPT_THROTTLE_WINDOW },
	{ "login-max-failures", required_argument, NULL, OPT_LOGIN_MAX },
	{ "ip-max-failures", required_argument, NULL, OPT_IP_MAX },
	{ "signup-max", required_argument, NULL, OPT_SIGNUP_MAX },
	{ "grant-create-max", required_argument, NULL, OPT_GRANT_CREATE_MAX },
	{ "session-create-max", required_argument, NULL,
	    OPT_SESSION_CREATE_MAX },
	{ "grant-max", required_argument, NULL, OPT_GRANT_MAX },
	{ "grant-token-max", required_argument, NULL, OPT_GRANT_TOKEN_MAX },
	{ "refresh-families-max", required_argument, NULL,
	    OPT_REFRESH_FAMILIES },
	{ "refresh-reuse-window", required_argument, NULL, OPT_REFRESH_REUSE },
	{ "kdf-memory", required_argument, NULL, OPT_KDF_MEM },
	{ "kdf-time", required_argument, NULL, OPT_KDF_TIME },
	{ "kdf-threads", required_argument, NULL, OPT_KDF_THREADS },
	{ "token-lifetime", required_argument, NULL, OPT_TOKEN_LIFE },
	{ "code-lifetime", required_argument, NULL, OPT_CODE_LIFE },
	{ "jwks-max-age", required_argument, NULL, OPT_JWKS_AGE },
	{ "token-cache", required_argument, NULL, OPT_TOKEN_CACHE },
	{ "projection-cache", required_argument, NULL, OPT_PROJ_CACHE },
	{ "projection-cache-bytes", required_argument, NULL, OPT_PROJ_BYTES },
	{ "audit-flush-ms", required_argument, NULL, OPT_AUDIT_FLUSH },
	{ "audit-fold-ms", required_argument, NULL, OPT_AUDIT_FOLD },
	{ "audit-wait-ms", required_argument, NULL, OPT_AUDIT_WAIT },
	{ "audit-queue", required_argument, NULL, OPT_AUDIT_QUEUE },
	{ "audit-retention-days", required_argument, NULL, OPT_AUDIT_RETENTION },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static const char *
option_name(int val)
{
	for (const struct option *o = options; o->name != NULL; o++)
		if (o->val == val)
			return o->name;
	return "?";
}

/* Parses a decimal in [min, max]; 0 on success. */
static int
parse_num(const char *s, unsigned long long min, unsigned long long max,
    unsigned long long *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	if (s[0] == '-' || s[0] == '\0')
		return -1;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
parse_args(int argc, char **argv, struct api_config *cfg)
{
	unsigned long long v;
	int c;

	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case OPT_DATA: cfg->data_dir = optarg; continue;
		case OPT_LISTEN: cfg->listen = optarg; continue;
		case OPT_MTLS_LISTEN: cfg->mtls_listen = optarg; continue;
		case OPT_ISSUER: cfg->issuer = optarg; continue;
		case OPT_ACCESSLOG: cfg->access_log = optarg; continue;
		case OPT_TLSPRIO: cfg->tls_priorities = optarg; continue;
		case OPT_HELP: fputs(usage, stdout); exit(0);
		case OPT_AFFINITY:
			if (strcmp(optarg, "on") != 0 &&
			    strcmp(optarg, "off") != 0)
				goto bad;
			cfg->worker_affinity = strcmp(optarg, "on") == 0;
			continue;
		case '?': return -1;
		default: break;
		}
		/* The rest are numbers, each with its sane range. */
		switch (c) {
		case OPT_THREADS:
			if (parse_num(optarg, 1, 256, &v)) goto bad;
			cfg->threads = (unsigned)v; break;
		case OPT_MAXCONN:
			if (parse_num(optarg, 1, 1000000, &v)) goto bad;
			cfg->max_conns = (unsigned)v; break;
		case OPT_MAXCONN_IP:
			if (parse_num(optarg, 1, 1000000, &v)) goto bad;
			cfg->max_conns_per_ip = (unsigned)v; break;
		case OPT_CONNMEM:
			if (parse_num(optarg, 4096, 64u << 20, &v)) goto bad;
			cfg->conn_memory = (size_t)v; break;
		case OPT_CONNTIMEOUT:
			if (parse_num(optarg, 1, 86400, &v)) goto bad;
			cfg->conn_timeout = (unsigned)v; break;
		case OPT_MAXBODY:
			if (parse_num(optarg, 1, 64u << 20, &v)) goto bad;
			cfg->max_body = (size_t)v; break;
		case OPT_SHUTDOWN:
			if (parse_num(optarg, 0, 3600, &v)) goto bad;
			cfg->shutdown_timeout = (unsigned)v; break;
		case OPT_FLUSH:
			if (parse_num(optarg, 1, 10000, &v)) goto bad;
			cfg->log_flush_ms = (unsigned)v; break;
		case OPT_MAPSIZE:
			if (parse_num(optarg, 1u << 20, 1ull << 40, &v)) goto bad;
			cfg->store.map_size = (size_t)v; break;
		case OPT_SESSION_IDLE:
			if (parse_num(optarg, 1, 31ull * 86400, &v)) goto bad;
			cfg->session_idle = (unsigned)v; break;
		case OPT_SESSION_LIFE:
			if (parse_num(optarg, 1, 366ull * 86400, &v)) goto bad;
			cfg->session_lifetime = (unsigned)v; break;
		case OPT_THROTTLE_WINDOW:
			if (parse_num(optarg, 1, 86400, &v)) goto bad;
			cfg->throttle_window = (unsigned)v; break;
		case OPT_LOGIN_MAX:
			if (parse_num(optarg, 1, 1000000, &v)) goto bad;
			cfg->login_max_failures = (unsigned)v; break;
		case OPT_IP_MAX:
			if (parse_num(optarg, 1, 1000000, &v)) goto bad;
			cfg->ip_max_failures = (unsigned)v; break;
		case OPT_SIGNUP_MAX:
			if (parse_num(optarg, 1, 1000000, &v)) goto bad;
			cfg->signup_max = (unsigned)v; break;
		case OPT_SESSION_CREATE_MAX:
			if (parse_num(optarg, 1, 1000000, &v)) goto bad;
			cfg->session_create_max = (unsigned)v; break;
		case OPT_GRANT_CREATE_MAX:
			if (parse_num(optarg, 1, 1000000, &v)) goto bad;
			cfg->grant_create_max = (unsigned)v; break;
		case OPT_GRANT_MAX:
			if (parse_num(optarg, 1, 100000, &v)) goto bad;
			cfg->grant_max = (unsigned)v; break;
		case OPT_GRANT_TOKEN_MAX:
			if (parse_num(optarg, 1, 1000000, &v)) goto bad;
			cfg->grant_token_max = (unsigned)v; break;
		case OPT_REFRESH_FAMILIES:
			if (parse_num(optarg, 1, 1000, &v)) goto bad;
			cfg->refresh_families_max = (unsigned)v; break;
		case OPT_REFRESH_REUSE:
			if (parse_num(optarg, 60, 366ull * 86400, &v)) goto bad;
			cfg->refresh_reuse_window = (unsigned)v; break;
		case OPT_KDF_MEM:
			/* Below the OWASP minimum only for tests and loaders. */
			if (parse_num(optarg, 8, 4u << 20, &v)) goto bad;
			cfg->kdf.m_kib = (uint32_t)v; break;
		case OPT_KDF_TIME:
			if (parse_num(optarg, 1, 64, &v)) goto bad;
			cfg->kdf.t_cost = (uint32_t)v; break;
		case OPT_KDF_THREADS:
			if (parse_num(optarg, 1, 64, &v)) goto bad;
			cfg->kdf.threads = (unsigned)v; break;
		case OPT_TOKEN_LIFE:
			if (parse_num(optarg, 1, 86400, &v)) goto bad;
			cfg->token_lifetime = (unsigned)v; break;
		case OPT_CODE_LIFE:
			if (parse_num(optarg, 1, 600, &v)) goto bad;
			cfg->code_lifetime = (unsigned)v; break;
		case OPT_JWKS_AGE:
			if (parse_num(optarg, 0, 86400, &v)) goto bad;
			cfg->jwks_max_age = (unsigned)v; break;
		case OPT_TOKEN_CACHE:
			if (parse_num(optarg, 64, 16u << 20, &v)) goto bad;
			cfg->token_cache = (unsigned)v; break;
		case OPT_PROJ_BYTES:
			if (parse_num(optarg, 1u << 20, 64ull << 30, &v)) goto bad;
			cfg->projection_cache_bytes = (size_t)v; break;
		case OPT_PROJ_CACHE:
			if (parse_num(optarg, 64, 16u << 20, &v)) goto bad;
			cfg->projection_cache = (unsigned)v; break;
		case OPT_AUDIT_FLUSH:
			if (parse_num(optarg, 1, 10000, &v)) goto bad;
			cfg->audit_flush_ms = (unsigned)v; break;
		case OPT_AUDIT_FOLD:
			if (parse_num(optarg, 1, 60000, &v)) goto bad;
			cfg->audit_fold_ms = (unsigned)v; break;
		case OPT_AUDIT_WAIT:
			if (parse_num(optarg, 1, 60000, &v)) goto bad;
			cfg->audit_wait_ms = (unsigned)v; break;
		case OPT_AUDIT_QUEUE:
			if (parse_num(optarg, 16, 1u << 20, &v)) goto bad;
			cfg->audit_queue = (unsigned)v; break;
		case OPT_AUDIT_RETENTION:
			if (parse_num(optarg, 1, 36500, &v)) goto bad;
			cfg->audit_retention = (unsigned)v; break;
		default:
			return -1;
		}
		continue;
bad:
		fprintf(stderr, "ccx-broker: bad value '%s' for --%s\n", optarg,
		    option_name(c));
		return -1;
	}
	if (optind != argc) {
		fprintf(stderr, "ccx-broker: unexpected argument '%s'\n",
		    argv[optind]);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct api_config cfg;
	struct api_server *srv = NULL;
	const char *env;
	char err[512];
	sigset_t set;
	int sig, rc;

	api_config_defaults(&cfg);
	env = getenv("CCX_DATA");
	if (env != NULL && env[0] != '\0')
		cfg.data_dir = env;
	if (parse_args(argc, argv, &cfg) != 0) {
		fputs(usage, stderr);
		return 2;
	}
	/* Block before any thread starts so that all of them inherit it. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((rc = api_server_start(&cfg, &srv, err, sizeof(err))) != 0) {
		fprintf(stderr, "ccx-broker: %s (%s)\n", err, api_strerror(rc));
		return 1;
	}
	/* "listening on" is the readiness line scripts wait for: it comes last. */
	if (cfg.mtls_listen != NULL)
		fprintf(stderr, "ccx-broker: mutual TLS on https://%.*s:%u/\n",
		    (int)(strrchr(cfg.mtls_listen, ':') - cfg.mtls_listen),
		    cfg.mtls_listen, api_server_mtls_port(srv));
	fprintf(stderr, "ccx-broker: listening on https://%.*s:%u/ (issuer %s)\n",
	    (int)(strrchr(cfg.listen, ':') - cfg.listen), cfg.listen,
	    api_server_port(srv), api_server_issuer(srv));
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			if (api_server_reload(srv, err, sizeof(err)) == 0)
				fprintf(stderr, "ccx-broker: SIGHUP: server "
				    "certificate reloaded\n");
			else
				fprintf(stderr, "ccx-broker: SIGHUP: %s; keeping "
				    "the current certificate\n", err);
			continue;
		}
		break;
	}
	fprintf(stderr, "ccx-broker: stopping (signal %d)\n", sig);
	api_server_stop(srv);
	fprintf(stderr, "ccx-broker: stopped\n");
	return 0;
}
