/*
 * tlssend.c - one TCP segment per answer instead of two.
 *
 * libmicrohttpd 0.9.75 sends an answer's header block and its body as two
 * TLS records, and pushes the header on its own when the answer is 1,400
 * bytes or more (so that a client may act on it early).  With TCP_NODELAY
 * set that is two segments, and on the client's side two wake-ups, for
 * every answer: a profile of 1.5 KB paid for it on each fetch.
 *
 * The fix sits below libmicrohttpd, in GnuTLS's transport: each TLS
 * session writes through push() here.  When an answer whose body follows
 * its header at once is queued, the header's record is written with
 * MSG_MORE, and the body's record (written straight after it, in the same
 * call of the library) pushes both as one segment.  A flag that is not
 * consumed does no harm: it is cleared when the connection closes, and a
 * record written with MSG_MORE leaves with the next write or the next ACK.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <gnutls/gnutls.h>

#include "api/api_int.h"

/* Sockets above this number simply go unheld. */
#define HOLD_FDS 65536

static _Atomic unsigned char hold[HOLD_FDS];

static int
conn_fd(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	return ci != NULL ? (int)ci->connect_fd : -1;
}

static ssize_t
push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int iovcnt)
{
	int fd = (int)(intptr_t)ptr;
	int flags = MSG_NOSIGNAL;
	struct msghdr m = { 0 };

	if (fd >= 0 && fd < HOLD_FDS &&
	    atomic_exchange_explicit(&hold[fd], 0, memory_order_relaxed))
		flags |= MSG_MORE;
	m.msg_iov = (struct iovec *)(uintptr_t)iov;
	m.msg_iovlen = (size_t)iovcnt;
	return sendmsg(fd, &m, flags);
}

void
api_tlssend_attach(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;
	int fd = conn_fd(conn);

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL || fd < 0)
		return;
	if (fd < HOLD_FDS)
		atomic_store_explicit(&hold[fd], 0, memory_order_relaxed);
	/* The transport stays the socket itself: reads are unchanged. */
	gnutls_transport_set_vec_push_function(
	    (gnutls_session_t)ci->tls_session, push);
}

void
api_tlssend_detach(struct MHD_Connection *conn)
{
	int fd = conn_fd(conn);

	if (fd >= 0 && fd < HOLD_FDS)
		atomic_store_explicit(&hold[fd], 0, memory_order_relaxed);
}

void
api_tlssend_hold(struct MHD_Connection *conn, const char *method,
    unsigned status, size_t body_len)
{
	int fd;

	/* Only where libmicrohttpd writes the body right after the header
	 * (rp_props.send_reply_body in connection.c): otherwise the header
	 * would wait for the next write. */
	if (body_len == 0 || status < 200 || status == 204 || status == 304 ||
	    strcmp(method, "HEAD") == 0 || strcmp(method, "CONNECT") == 0)
		return;
	if ((fd = conn_fd(conn)) >= 0 && fd < HOLD_FDS)
		atomic_store_explicit(&hold[fd], 1, memory_order_relaxed);
}
