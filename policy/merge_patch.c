/*
 * merge_patch.c - RFC 7396 JSON merge patch, the way a customer edits the
 * profile.
 *
 * Pure.  It must never modify the patch, nor the target it is given: the
 * result is built beside the target, sharing its untouched subtrees by
 * reference count, and replaces *target only once complete, so a failed
 * allocation leaves the caller exactly the document it had.  It does not
 * validate: the result may break the profile rules (a null inside an
 * array, say) and goes through policy_profile_validate before use.
 */
#include <stdint.h>

#include "policy/policy.h"

/* jansson's iterators take non-const objects, though they only read. */
static json_t *
unconst(const json_t *v)
{
	return (json_t *)(uintptr_t)v;
}

/*
 * A deep copy of v, or NULL when an allocation fails.  Containers are
 * copied here rather than by json_deep_copy() or json_copy(): older
 * jansson ignores a failed insertion while copying an object and returns a
 * copy with members missing, which would pass for success.
 */
static json_t *
copy_deep(const json_t *v)
{
	json_t *copy = NULL, *done = NULL, *child;
	const char *key;
	size_t keylen, i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if ((copy = json_object()) == NULL)
			goto out;
		json_object_keylen_foreach(unconst(v), key, keylen, child) {
			json_t *c = copy_deep(child);

			/* _new takes the reference even when it fails. */
			if (c == NULL ||
			    json_object_setn_new_nocheck(copy, key, keylen, c) != 0)
				goto out;
		}
		break;
	case JSON_ARRAY:
		if ((copy = json_array()) == NULL)
			goto out;
		json_array_foreach(v, i, child) {
			json_t *c = copy_deep(child);

			if (c == NULL || json_array_append_new(copy, c) != 0)
				goto out;
		}
		break;
	default:
		/* Scalars: a fresh value, or the shared true/false/null. */
		if ((copy = json_deep_copy(v)) == NULL)
			goto out;
		break;
	}
	done = copy;
	copy = NULL;
out:
	json_decref(copy);
	return done;
}

/* A new object holding the members of obj (their values shared), or NULL. */
static json_t *
copy_shallow(json_t *obj)
{
	json_t *out, *child;
	const char *key;
	size_t keylen;

	if ((out = json_object()) == NULL)
		return NULL;
	json_object_keylen_foreach(obj, key, keylen, child) {
		if (json_object_setn_nocheck(out, key, keylen, child) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/*
 * MergePatch(target, patch) of RFC 7396 section 2.  target is borrowed and
 * never written to; NULL stands for an absent member.  Returns a new
 * reference, or NULL when an allocation fails.  The recursion follows the
 * patch's objects, whose depth the request-body limits have capped.
 */
static json_t *
merge(json_t *target, const json_t *patch)
{
	json_t *res = NULL, *done = NULL, *value;
	const char *key;
	size_t keylen;

	if (!json_is_object(patch))
		return copy_deep(patch);
	/* Whatever target was, if not an object it is replaced by {}. */
	res = json_is_object(target) ? copy_shallow(target) : json_object();
	if (res == NULL)
		goto out;
	json_object_keylen_foreach(unconst(patch), key, keylen, value) {
		json_t *merged;

		if (json_is_null(value)) {
			/* Removing an absent member is no error. */
			(void)json_object_deln(res, key, keylen);
			continue;
		}
		/* The old member is only read; the result replaces it in res. */
		merged = merge(json_object_getn(res, key, keylen), value);
		if (merged == NULL ||
		    json_object_setn_new_nocheck(res, key, keylen, merged) != 0)
			goto out;
	}
	done = res;
	res = NULL;
out:
	json_decref(res);
	return done;
}

int
policy_merge_patch(json_t **target, const json_t *patch)
{
	json_t *result;

	if (target == NULL || patch == NULL)
		return POLICY_E_INVAL;
	if ((result = merge(*target, patch)) == NULL)
		return POLICY_E_NOMEM;
	json_decref(*target);
	*target = result;
	return 0;
}
