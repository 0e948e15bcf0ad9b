/*
 * json_limits.c - caps on untrusted JSON: depth, members, total values,
 * string and key lengths.
 *
 * Pure functions only.  The depth pre-scan runs on raw text before the
 * parser so that hostile nesting never reaches jansson's recursion; the
 * tree check runs after parsing, before anything else looks at the data.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

const char *
policy_strerror(int err)
{
	switch (err) {
	case POLICY_OK: return "success";
	case POLICY_E_DEPTH: return "JSON nested too deeply";
	case POLICY_E_MEMBERS: return "too many members in an object or array";
	case POLICY_E_TOTAL: return "too many values in the document";
	case POLICY_E_STRING: return "string too long";
	case POLICY_E_KEY: return "object key too long";
	case POLICY_E_INVAL: return "invalid argument";
	case POLICY_E_LOGIN: return "login must be 3-64 characters of a-z 0-9 . _ @ + -";
	case POLICY_E_WEAKPW: return "password too weak";
	case POLICY_E_PROFILE: return "profile fails validation";
	case POLICY_E_NOMEM: return "out of memory";
	case POLICY_E_SCOPE: return "invalid scope";
	default: return "unknown policy error";
	}
}

int
policy_json_depth(const char *buf, size_t len, unsigned max_depth)
{
	unsigned depth = 0;
	int in_string = 0, escaped = 0;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];

		if (in_string) {
			if (escaped)
				escaped = 0;
			else if (c == '\\')
				escaped = 1;
			else if (c == '"')
				in_string = 0;
			continue;
		}
		if (c == '"')
			in_string = 1;
		else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return POLICY_E_DEPTH;
		} else if ((c == ']' || c == '}') && depth > 0)
			depth--;
	}
	return 0;
}

struct walk {
	const struct policy_json_limits *lim;
	size_t total;
	char *path;
	size_t pathcap;
};

/* Appends "/seg" to the offence path, truncating silently: it is a hint. */
static void
path_push(struct walk *w, size_t at, const char *seg, size_t seglen)
{
	size_t room;

	if (w->path == NULL || at >= w->pathcap)
		return;
	room = w->pathcap - at - 1;
	if (room == 0)
		return;
	w->path[at++] = '/';
	room--;
	if (seglen > room)
		seglen = room;
	memcpy(w->path + at, seg, seglen);
	w->path[at + seglen] = '\0';
}

static size_t
path_len(const struct walk *w)
{
	return w->path != NULL ? strlen(w->path) : 0;
}

static int
walk(struct walk *w, const json_t *v, unsigned depth)
{
	const char *key;
	json_t *child;
	size_t i, at = path_len(w);
	char idx[24];
	int rc;

	if (++w->total > w->lim->max_total)
		return POLICY_E_TOTAL;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
	case JSON_ARRAY:
		if (depth + 1 > w->lim->max_depth)
			return POLICY_E_DEPTH;
		break;
	case JSON_STRING:
		return json_string_length(v) > w->lim->max_string
			   ? POLICY_E_STRING
			   : 0;
	default:
		return 0;
	}
	if (json_is_object(v)) {
		if (json_object_size(v) > w->lim->max_members)
			return POLICY_E_MEMBERS;
		json_object_foreach((json_t *)(uintptr_t)v, key, child) {
			size_t klen = strlen(key);

			path_push(w, at, key, klen);
			if (klen > w->lim->max_key)
				return POLICY_E_KEY;
			if ((rc = walk(w, child, depth + 1)) != 0)
				return rc;
			if (w->path != NULL && at < w->pathcap)
				w->path[at] = '\0';
		}
		return 0;
	}
	if (json_array_size(v) > w->lim->max_members)
		return POLICY_E_MEMBERS;
	json_array_foreach(v, i, child) {
		int n = snprintf(idx, sizeof(idx), "%zu", i);

		path_push(w, at, idx, n > 0 ? (size_t)n : 0);
		if ((rc = walk(w, child, depth + 1)) != 0)
			return rc;
		if (w->path != NULL && at < w->pathcap)
			w->path[at] = '\0';
	}
	return 0;
}

int
policy_json_check(const json_t *doc, const struct policy_json_limits *lim,
    char *path, size_t pathcap)
{
	struct walk w = { .lim = lim, .path = pathcap ? path : NULL,
		.pathcap = pathcap };

	if (w.path != NULL)
		w.path[0] = '\0';
	if (doc == NULL || lim == NULL)
		return POLICY_E_INVAL;
	return walk(&w, doc, 0);
}
