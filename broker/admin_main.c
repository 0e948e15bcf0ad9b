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

#include <jansson.h>

#include "broker/broker.h"

#define MAX_HOSTNAMES 32

static const char usage[] =
    "usage: ccx-admin [--data DIR] COMMAND [ARGS]\n"
    "commands:\n"
    "  init [--hostname NAME]... [--issuer URL]   create a data directory\n";

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
	if (strcmp(a.cmd, "help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	fprintf(stderr, "ccx-admin: unknown command '%s'\n%s", a.cmd, usage);
	return 2;
}
