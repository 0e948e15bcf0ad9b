/*
 * admin_main.c - ccx-admin: the operator's command line.
 *
 * Parses arguments and calls into broker/; no logic of its own.  Commands
 * that create something print JSON on stdout; failures print a message on
 * stderr and exit non-zero.  --data may come before or after the command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include <jansson.h>

#include "broker/broker.h"
#include "certs/certs.h"

#define MAX_HOSTNAMES 32

static const char usage[] =
    "usage: ccx-admin [--data DIR] COMMAND [ARGS]\n"
    "commands:\n"
    "  init [--hostname NAME]... [--issuer URL]   create a data directory\n"
    "  company add ID --name NAME [--description TEXT] [--site URL]\n"
    "              [--redirect-uri URI]...\n"
    "  company list | show ID | disable ID | enable ID\n"
    "  company update ID [--name NAME] [--description TEXT] [--site URL]\n"
    "              [--redirect-uri URI]... [--no-redirect-uris]\n"
    "  company secret ID [--overlap DURATION]     e.g. 3600, 90s, 15m, 24h, 7d\n"
    "  company cert ID [--csr FILE]               a client certificate (mTLS)\n"
    "  company cert ID --revoke X5T               stop one (its x5t#S256)\n"
    "  keys list | rotate [--now] | retire KID [--force]\n"
    "  certs rotate [--hostname NAME]...          then: kill -HUP the daemon\n"
    "  backup FILE                                one file, 0600: a secret\n"
    "  restore FILE                               into an empty --data DIR\n"
    "  audit [--limit N]                          the admin trail, newest first\n";

struct args {
	const char *data;
	const char *cmd;
	int argc;	/* the command's own arguments */
	char **argv;
};

/* Pulls --data out of argv wherever it stands; the rest stays in order. */
static int
split_args(int argc, char **argv, struct args *a)
{
	int o = 0;

	a->data = NULL;
	a->cmd = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--data") == 0) {
			if (i + 1 >= argc)
				return -1;
			a->data = argv[++i];
		} else if (strncmp(argv[i], "--data=", 7) == 0)
			a->data = argv[i] + 7;
		else if (a->cmd == NULL && argv[i][0] != '-')
			a->cmd = argv[i];
		else
			argv[o++] = argv[i];
	}
	a->argc = o;
	a->argv = argv;
	if (a->data == NULL) {
		const char *env = getenv("CCX_DATA");

		a->data = env != NULL && env[0] != '\0' ? env : "var";
	}
	return a->cmd != NULL ? 0 : -1;
}

static int
print_json(json_t *obj)
{
	int rc = obj != NULL && json_dumpf(obj, stdout, JSON_INDENT(2)) == 0;

	json_decref(obj);
	if (rc)
		fputc('\n', stdout);
	return rc ? 0 : 1;
}

static int
cmd_init(struct args *a)
{
	const char *hosts[MAX_HOSTNAMES];
	struct broker_init_opts o = { .data_dir = a->data, .hostnames = hosts };
	struct broker_init_result res;
	int rc;

	for (int i = 0; i < a->argc; i++) {
		if (strcmp(a->argv[i], "--hostname") == 0 && i + 1 < a->argc) {
			if (o.n_hostnames >= MAX_HOSTNAMES) {
				fprintf(stderr, "ccx-admin: too many --hostname\n");
				return 2;
			}
			hosts[o.n_hostnames++] = a->argv[++i];
		} else if (strcmp(a->argv[i], "--issuer") == 0 &&
		    i + 1 < a->argc)
			o.issuer = a->argv[++i];
		else {
			fprintf(stderr, "ccx-admin: init: unexpected '%s'\n%s",
			    a->argv[i], usage);
			return 2;
		}
	}
	if ((rc = broker_init(&o, &res)) != 0) {
		if (rc == BROKER_E_EXISTS)
			fprintf(stderr, "ccx-admin: %s is not empty: refusing "
			    "to initialise over an existing directory\n",
			    a->data);
		else if (rc == BROKER_E_INVAL)
			fprintf(stderr, "ccx-admin: init: invalid argument "
			    "(the issuer must be an https:// URL)\n");
		else
			fprintf(stderr, "ccx-admin: init %s: %s\n", a->data,
			    broker_strerror(rc));
		return 1;
	}
	return print_json(json_pack("{s:s, s:s, s:s, s:s, s:s?}", "data_dir",
	    a->data, "ca_certificate", res.ca_path, "admin_token_file",
	    res.token_path, "signing_key", res.kid, "issuer", o.issuer));
}

/* Records an admin action; a failure is reported but does not undo it. */
static int
admin_record(struct broker_store *s, const char *action, const char *target,
    const json_t *detail)
{
	int rc = broker_admin_record(s, action, target, detail);

	if (rc != 0)
		fprintf(stderr, "ccx-admin: warning: %s done but not recorded in "
		    "the admin trail: %s\n", action, broker_strerror(rc));
	return rc;
}

/* ---- companies ---------------------------------------------------------- */

static int
fail(const char *what, int rc)
{
	fprintf(stderr, "ccx-admin: %s: %s\n", what, broker_strerror(rc));
	return 1;
}

/* Opens the store of an initialised data directory. */
static int
open_store(const struct args *a, struct broker_store **s)
{
	int rc = broker_store_open(a->data, NULL, s);

	if (rc == BROKER_E_NOTINIT)
		fprintf(stderr, "ccx-admin: %s is not initialised (run ccx-admin "
		    "init first)\n", a->data);
	else if (rc != 0)
		fprintf(stderr, "ccx-admin: %s: %s\n", a->data,
		    broker_strerror(rc));
	return rc;
}

/* "3600", "90s", "15m", "24h", "7d" -> seconds; -1 when malformed. */
static int64_t
parse_duration(const char *s)
{
	int64_t v = 0, mul = 1;
	size_t i = 0, n = strlen(s);

	if (n == 0 || n > 12)
		return -1;
	switch (s[n - 1]) {
	case 's': mul = 1; n--; break;
	case 'm': mul = 60; n--; break;
	case 'h': mul = 3600; n--; break;
	case 'd': mul = 86400; n--; break;
	default: break;
	}
	if (n == 0)
		return -1;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= (int64_t)366 * 86400 / mul ? v * mul : -1;
}

/* The public view of a company record (never its secret hashes). */
static json_t *
company_view(const char *id, json_t *rec)
{
	json_t *o = json_deep_copy(rec);

	if (o == NULL)
		return NULL;
	json_object_del(o, "secrets");
	json_object_set_new(o, "client_id", json_string(id));
	return o;
}

/* Parses the descriptive flags shared by add and update. */
/*
 * Parses the flags of company add/update (descriptive ones) or company
 * secret (--overlap only): a flag that would be ignored is an error.
 */
static int
company_flags(struct args *a, int from, struct broker_company_change *c,
    const char **uris, int secret)
{
	const char *bad = "";

	for (int i = from; i < a->argc; i++) {
		const char *f = a->argv[i], *v = i + 1 < a->argc ? a->argv[i + 1]
								 : NULL;

		if ((strcmp(f, "--overlap") == 0) != secret) {
			bad = f;
			goto bad;
		}
		if (strcmp(f, "--no-redirect-uris") == 0) {
			c->clear_redirects = 1;
			continue;
		}
		if (v == NULL) {
			bad = f;
			goto bad;
		}
		if (strcmp(f, "--name") == 0)
			c->name = v;
		else if (strcmp(f, "--description") == 0)
			c->description = v;
		else if (strcmp(f, "--site") == 0)
			c->site = v;
		else if (strcmp(f, "--redirect-uri") == 0) {
			if (c->n_redirects >= BROKER_MAX_REDIRECTS) {
				fprintf(stderr, "ccx-admin: at most %d redirect "
				    "URIs\n", BROKER_MAX_REDIRECTS);
				return 2;
			}
			uris[c->n_redirects++] = v;
		} else if (strcmp(f, "--overlap") == 0) {
			if ((c->overlap = parse_duration(v)) < 0) {
				fprintf(stderr, "ccx-admin: bad duration '%s'\n",
				    v);
				return 2;
			}
		} else {
			bad = f;
			goto bad;
		}
		i++;
	}
	c->redirect_uris = uris;
	return 0;
bad:
	fprintf(stderr, "ccx-admin: company: unexpected or incomplete '%s'\n%s",
	    bad, usage);
	return 2;
}

static int
print_company(struct broker_store *s, const char *id, const char *secret)
{
	struct broker_txn *t = NULL;
	json_t *rec = NULL, *view;
	int rc;

	if ((rc = broker_read_begin(s, &t)) != 0)
		return fail(id, rc);
	rc = broker_company_get(t, id, &rec);
	broker_read_end(t);
	if (rc != 0)
		return fail(id, rc);
	view = company_view(id, rec);
	json_decref(rec);
	if (view != NULL && secret != NULL)
		json_object_set_new(view, "client_secret", json_string(secret));
	return print_json(view);
}

static int
list_one(void *arg, const char *id, json_t *rec)
{
	json_t *o = company_view(id, rec);

	return o != NULL && json_array_append_new(arg, o) == 0 ? 0
							      : BROKER_E_NOMEM;
}

/* company cert ID --revoke X5T */
static int
company_cert_revoke(struct args *a)
{
	struct broker_company_change c = { .id = a->argv[1],
		.thumb = a->argv[3], .now = (int64_t)time(NULL) };
	struct broker_store *s = NULL;
	int rc, ret = 1;

	if (strlen(c.thumb) != CERTS_THUMB_LEN) {
		fprintf(stderr, "ccx-admin: '%s' is not an x5t#S256 thumbprint "
		    "(%d base64url characters, as company show lists them)\n",
		    c.thumb, CERTS_THUMB_LEN);
		return 2;
	}
	if (open_store(a, &s) != 0)
		return 1;
	rc = broker_write(s, broker_company_cert_revoke, &c);
	if (rc == BROKER_E_INVAL)
		fprintf(stderr, "ccx-admin: company %s has no certificate %s "
		    "(company show %s lists them)\n", c.id, c.thumb, c.id);
	else if (rc == BROKER_E_REVOKED)
		fprintf(stderr, "ccx-admin: certificate %s of %s is already "
		    "revoked\n", c.thumb, c.id);
	else if (rc != 0)
		fail(c.id, rc);
	else {
		json_t *d = json_pack("{s:s}", "x5t#S256", c.thumb);

		(void)admin_record(s, "company.cert.revoke", c.id, d);
		json_decref(d);
		ret = print_json(json_pack("{s:s, s:s, s:I}", "client_id", c.id,
		    "x5t#S256", c.thumb, "revoked", (json_int_t)c.now));
	}
	broker_store_close(s);
	return ret;
}

/* company cert ID [--csr FILE] */
static int
company_cert(struct args *a)
{
	char cert[BROKER_PATH_MAX], key[BROKER_PATH_MAX], thumb[64];
	struct broker_store *s = NULL;
	char *csr = NULL;
	size_t csr_len = 0;
	int rc, ret = 1;

	if (a->argc == 4 && strcmp(a->argv[2], "--revoke") == 0)
		return company_cert_revoke(a);
	if (a->argc != 2 && !(a->argc == 4 && strcmp(a->argv[2], "--csr") == 0)) {
		fprintf(stderr, "%s", usage);
		return 2;
	}
	if (a->argc == 4 && certs_file_read(a->argv[3], &csr, &csr_len) != 0) {
		fprintf(stderr, "ccx-admin: cannot read %s\n", a->argv[3]);
		return 1;
	}
	if (open_store(a, &s) != 0) {
		free(csr);
		return 1;
	}
	rc = broker_company_cert(a->data, s, a->argv[1], csr, csr_len, cert, key,
	    thumb);
	if (rc == BROKER_E_INVAL)
		fprintf(stderr, "ccx-admin: %s is not a usable certificate "
		    "request (a valid self-signed CSR with an EC P-256/P-384 "
		    "or RSA >= 2048 key)\n", a->argc == 4 ? a->argv[3] : "");
	else if (rc != 0)
		fail(a->argv[1], rc);
	else {
		json_t *d = json_pack("{s:s}", "x5t#S256", thumb);

		(void)admin_record(s, "company.cert", a->argv[1], d);
		json_decref(d);
		json_t *o = json_pack("{s:s, s:s, s:s}", "client_id",
		    a->argv[1], "certificate", cert, "x5t#S256", thumb);

		/* With a CSR the key never left the company. */
		if (o != NULL && key[0] != '\0')
			json_object_set_new(o, "private_key", json_string(key));
		ret = print_json(o);
	}
	free(csr);
	broker_store_close(s);
	return ret;
}

static int
cmd_company(struct args *a)
{
	const char *uris[BROKER_MAX_REDIRECTS];
	struct broker_company_change c = { 0 };
	struct broker_store *s = NULL;
	struct broker_txn *t = NULL;
	broker_write_fn fn = NULL;
	const char *sub = a->argc > 0 ? a->argv[0] : "";
	json_t *all;
	int rc, ret = 1;

	c.now = (int64_t)time(NULL);
	if (strcmp(sub, "cert") == 0)
		return company_cert(a);
	if (strcmp(sub, "list") == 0) {
		if (a->argc != 1)
			goto usage;
		if (open_store(a, &s) != 0)
			return 1;
		rc = (all = json_array()) == NULL ? BROKER_E_NOMEM
						   : broker_read_begin(s, &t);
		if (rc == 0)
			rc = broker_company_each(t, list_one, all);
		if (rc != 0) {
			broker_read_end(t);
			json_decref(all);
			broker_store_close(s);
			return fail("company list", rc);
		}
		broker_read_end(t);
		broker_store_close(s);
		return print_json(all);
	}
	if (a->argc < 2)
		goto usage;
	c.id = a->argv[1];
	if (strcmp(sub, "add") == 0) {
		fn = broker_company_add;
		if ((rc = company_flags(a, 2, &c, uris, 0)) != 0)
			return rc;
		if (c.name == NULL) {
			fprintf(stderr, "ccx-admin: company add needs --name\n");
			return 2;
		}
		if (broker_client_id_check(c.id) != 0) {
			fprintf(stderr, "ccx-admin: client id must be 3-64 of "
			    "a-z 0-9 . _ - (starting with a letter or digit)\n");
			return 2;
		}
	} else if (strcmp(sub, "update") == 0) {
		fn = broker_company_update;
		if ((rc = company_flags(a, 2, &c, uris, 0)) != 0)
			return rc;
	} else if (strcmp(sub, "secret") == 0) {
		fn = broker_company_new_secret;
		if ((rc = company_flags(a, 2, &c, uris, 1)) != 0)
			return rc;
	} else if (strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0) {
		fn = broker_company_set_disabled;
		c.disabled = strcmp(sub, "disable") == 0;
		if (a->argc != 2)
			goto usage;
	} else if (strcmp(sub, "show") != 0 || a->argc != 2)
		goto usage;
	if (open_store(a, &s) != 0)
		return 1;
	if (fn != NULL && (rc = broker_write(s, fn, &c)) != 0) {
		if (rc == BROKER_E_EXISTS)
			fprintf(stderr, "ccx-admin: company %s already exists\n",
			    c.id);
		else if (rc == BROKER_E_INVAL)
			fprintf(stderr, "ccx-admin: company %s: invalid value "
			    "(names and texts are printable, sites http(s) URLs, "
			    "redirect URIs https or loopback http, no "
			    "fragment)\n", c.id);
		else
			fail(c.id, rc);
		goto out;
	}
	if (fn != NULL) {
		char action[32];
		json_t *d = json_pack("{s:b, s:I}", "new_secret",
		    c.secret[0] != '\0', "overlap", (json_int_t)c.overlap);

		snprintf(action, sizeof(action), "company.%s", sub);
		(void)admin_record(s, action, c.id, d);
		json_decref(d);
	}
	ret = print_company(s, c.id, c.secret[0] ? c.secret : NULL);
out:
	certs_wipe(c.secret, sizeof(c.secret));
	broker_store_close(s);
	return ret;
usage:
	fprintf(stderr, "%s", usage);
	return 2;
}

/* ---- signing keys ---------------------------------------------------- */

struct key_list {
	json_t *list;
	int64_t now;
	const char *signing;
	int64_t jwks_max_age, token_lifetime;
};

static int
key_row(void *arg, const json_t *rec)
{
	struct key_list *l = arg;
	json_t *o = json_deep_copy(rec);
	const char *kid = json_string_value(json_object_get(rec, "kid"));
	int64_t act = json_integer_value(json_object_get(rec, "activates"));

	if (o == NULL)
		return BROKER_E_NOMEM;
	json_object_set_new(o, "signing", json_boolean(kid != NULL &&
	    strcmp(kid, l->signing) == 0));
	json_object_set_new(o, "pending", json_boolean(act > l->now));
	return json_array_append_new(l->list, o) == 0 ? 0 : BROKER_E_NOMEM;
}

static int
cmd_keys(struct args *a)
{
	const char *sub = a->argc > 0 ? a->argv[0] : "";
	struct key_list l = { .now = (int64_t)time(NULL) };
	struct broker_store *s = NULL;
	struct broker_txn *t = NULL;
	char kid[64] = "", signing[64] = "";
	int force = 0, now_flag = 0, rc, ret = 1;

	for (int i = 1; i < a->argc; i++) {
		if (strcmp(a->argv[i], "--force") == 0 &&
		    strcmp(sub, "retire") == 0)
			force = 1;
		else if (strcmp(a->argv[i], "--now") == 0 &&
		    strcmp(sub, "rotate") == 0)
			now_flag = 1;
		else if (strcmp(sub, "retire") == 0 && kid[0] == '\0' &&
		    strlen(a->argv[i]) < sizeof(kid))
			memcpy(kid, a->argv[i], strlen(a->argv[i]) + 1);
		else
			goto usage;
	}
	if (!(strcmp(sub, "list") == 0 && a->argc == 1) &&
	    !(strcmp(sub, "rotate") == 0) &&
	    !(strcmp(sub, "retire") == 0 && kid[0] != '\0'))
		goto usage;
	if (open_store(a, &s) != 0)
		return 1;
	/* The running daemon says how long its JWKS is cached, and how
	 * long its tokens live. */
	(void)broker_meta_lifetimes(s, &l.jwks_max_age, &l.token_lifetime);
	if (strcmp(sub, "rotate") == 0) {
		/*
		 * Times are whole seconds: a JWKS fetched just before the
		 * rotation is cached until up to a second past now plus its
		 * lifetime, so the key signs one second later than that.
		 */
		int64_t delay = now_flag ? 0 : l.jwks_max_age + 1;

		rc = broker_key_rotate(a->data, s, l.now, delay, kid);
		if (rc != 0) {
			fail("keys rotate", rc);
			goto out;
		}
		{
			json_t *d = json_pack("{s:b}", "now", now_flag);

			(void)admin_record(s, "keys.rotate", kid, d);
			json_decref(d);
		}
		ret = print_json(json_pack("{s:s, s:I, s:b}", "kid", kid,
		    "activates", (json_int_t)l.now + (json_int_t)delay, "now",
		    now_flag));
		goto out;
	}
	if (strcmp(sub, "retire") == 0) {
		rc = broker_key_retire(s, kid, l.now, l.token_lifetime, force);
		if (rc == BROKER_E_BUSY)
			fprintf(stderr, "ccx-admin: key %s may still verify live "
			    "tokens (it signs now, or did less than %lld s ago); "
			    "--force retires it anyway and those tokens fail\n",
			    kid, (long long)l.token_lifetime);
		else if (rc == BROKER_E_INVAL)
			fprintf(stderr, "ccx-admin: key %s is the only one left to "
			    "sign with: rotate first\n", kid);
		else if (rc != 0)
			fail(kid, rc);
		else {
			json_t *d = json_pack("{s:b}", "force", force);

			(void)admin_record(s, "keys.retire", kid, d);
			json_decref(d);
			ret = print_json(json_pack("{s:s, s:s}", "kid", kid,
			    "state", "retired"));
		}
		goto out;
	}
	if ((l.list = json_array()) == NULL ||
	    broker_read_begin(s, &t) != 0) {
		json_decref(l.list);
		goto out;
	}
	(void)broker_key_signing(t, l.now, signing);
	l.signing = signing;
	rc = broker_keys_each(t, key_row, &l);
	broker_read_end(t);
	if (rc != 0) {
		json_decref(l.list);
		fail("keys list", rc);
		goto out;
	}
	ret = print_json(l.list);
out:
	broker_store_close(s);
	return ret;
usage:
	fprintf(stderr, "%s", usage);
	return 2;
}

/* ---- the server certificate -------------------------------------------- */

static int
cmd_certs(struct args *a)
{
	const char *hosts[MAX_HOSTNAMES];
	struct broker_store *s = NULL;
	char path[BROKER_PATH_MAX];
	json_t *names = NULL;
	size_t n = 0;
	int rc, ret = 1;

	if (a->argc < 1 || strcmp(a->argv[0], "rotate") != 0)
		goto usage;
	for (int i = 1; i < a->argc; i++) {
		if (strcmp(a->argv[i], "--hostname") != 0 || i + 1 >= a->argc ||
		    n == MAX_HOSTNAMES)
			goto usage;
		hosts[n++] = a->argv[++i];
	}
	if (open_store(a, &s) != 0)
		return 1;
	rc = broker_certs_rotate(a->data, s, hosts, n, &names);
	if (rc == BROKER_E_INVAL)
		fprintf(stderr, "ccx-admin: certs rotate: a host name is not "
		    "valid\n");
	else if (rc != 0)
		fail("certs rotate", rc);
	else if (broker_path(path, a->data, "certs/server.pem") == 0) {
		json_t *d = json_pack("{s:O}", "names", names);

		(void)admin_record(s, "certs.rotate", "server", d);
		json_decref(d);
		ret = print_json(json_pack("{s:s, s:O, s:s}", "certificate",
		    path, "names", names, "next",
		    "kill -HUP the running ccx-broker to serve it"));
	}
	json_decref(names);
	broker_store_close(s);
	return ret;
usage:
	fprintf(stderr, "%s", usage);
	return 2;
}

/* ---- backup and restore -------------------------------------------------- */

static int
cmd_backup(struct args *a)
{
	struct broker_store *s = NULL;
	int rc;

	if (a->argc != 1)
		goto usage;
	if (open_store(a, &s) != 0)
		return 1;
	rc = broker_backup(s, a->data, a->argv[0]);
	if (rc == 0)
		(void)admin_record(s, "backup", a->argv[0], NULL);
	broker_store_close(s);
	if (rc == BROKER_E_EXISTS) {
		fprintf(stderr, "ccx-admin: %s exists: refusing to overwrite\n",
		    a->argv[0]);
		return 1;
	}
	if (rc != 0)
		return fail(a->argv[0], rc);
	return print_json(json_pack("{s:s, s:s, s:s}", "backup", a->argv[0],
	    "data_dir", a->data, "note", "this file holds every private key: "
	    "keep it as secret as the data directory"));
usage:
	fprintf(stderr, "%s", usage);
	return 2;
}

static int
cmd_restore(struct args *a)
{
	int rc;

	if (a->argc != 1) {
		fprintf(stderr, "%s", usage);
		return 2;
	}
	rc = broker_restore(a->argv[0], a->data);
	if (rc == BROKER_E_EXISTS) {
		fprintf(stderr, "ccx-admin: %s is not empty: restore needs an "
		    "empty data directory\n", a->data);
		return 1;
	}
	if (rc == BROKER_E_CORRUPT) {
		fprintf(stderr, "ccx-admin: %s is not a complete CCX backup "
		    "(damaged or truncated): nothing was restored\n",
		    a->argv[0]);
		return 1;
	}
	if (rc != 0)
		return fail(a->argv[0], rc);
	{
		struct broker_store *s = NULL;

		if (broker_store_open(a->data, NULL, &s) == 0) {
			(void)admin_record(s, "restore", a->argv[0], NULL);
			broker_store_close(s);
		}
	}
	return print_json(json_pack("{s:s, s:s}", "restored", a->argv[0],
	    "data_dir", a->data));
}

static int
cmd_audit(struct args *a)
{
	struct broker_store *s = NULL;
	json_t *items = NULL;
	unsigned long limit = 100;
	char *end;
	int rc;

	if (a->argc == 2 && strcmp(a->argv[0], "--limit") == 0) {
		limit = strtoul(a->argv[1], &end, 10);
		if (*end != '\0' || limit == 0 || limit > 100000)
			goto usage;
	} else if (a->argc != 0)
		goto usage;
	if (open_store(a, &s) != 0)
		return 1;
	rc = broker_admin_trail(s, limit, &items);
	broker_store_close(s);
	if (rc != 0)
		return fail("audit", rc);
	return print_json(items);
usage:
	fprintf(stderr, "%s", usage);
	return 2;
}

int
main(int argc, char **argv)
{
	struct args a;

	if (split_args(argc, argv, &a) != 0) {
		fputs(usage, stderr);
		return 2;
	}
	if (strcmp(a.cmd, "init") == 0)
		return cmd_init(&a);
	if (strcmp(a.cmd, "company") == 0)
		return cmd_company(&a);
	if (strcmp(a.cmd, "keys") == 0)
		return cmd_keys(&a);
	if (strcmp(a.cmd, "certs") == 0)
		return cmd_certs(&a);
	if (strcmp(a.cmd, "backup") == 0)
		return cmd_backup(&a);
	if (strcmp(a.cmd, "audit") == 0)
		return cmd_audit(&a);
	if (strcmp(a.cmd, "restore") == 0)
		return cmd_restore(&a);
	if (strcmp(a.cmd, "help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	fprintf(stderr, "ccx-admin: unknown command '%s'\n%s", a.cmd, usage);
	return 2;
}
