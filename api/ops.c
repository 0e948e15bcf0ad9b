/*
 * ops.c - operations endpoints: health and metrics.
 *
 * /healthz is public and reveals nothing but liveness; /metrics needs the
 * admin token (checked by the dispatcher from the route table).
 */
#include <stdlib.h>

#include "api/api_int.h"

int
api_h_healthz(struct api_request *r)
{
	struct broker_txn *t = NULL;

	/* Healthy means the store still answers a read. */
	if (broker_read_begin(r->srv->store, &t) != 0)
		return api_fail(r, API_E_UNAVAILABLE, "store unavailable");
	broker_read_end(t);
	return api_respond_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

int
api_h_metrics(struct api_request *r)
{
	size_t len;
	char *text = api_metrics_render(r->srv, &len);
	int rc;

	if (text == NULL)
		return API_E_NOMEM;
	rc = api_respond_bytes(r, 200, "text/plain; version=0.0.4", text, len);
	free(text);
	return rc;
}
