/*
 * tlsio.c - the TLS sessions' transport: one system call per record read
 * and one per answer written, where GnuTLS and libmicrohttpd make two.
 *
 * GnuTLS reads a record in two calls, its 5-byte header and then the
 * rest.  Each connection here reads into a small buffer of its own, so a
 * request's record usually arrives in one recv().  libmicrohttpd's
 * (0.9.75) epoll loop goes on reading until a read reports EAGAIN, and
 * this transport says EAGAIN only once its buffer is empty and the socket
 * too, so nothing buffered here is ever forgotten.
 *
 * libmicrohttpd writes an answer's header block and its body as two
 * records, and pushes the header on its own when the answer is 1,400
 * bytes or more: two segments, and on the client's side two wake-ups,
 * for every profile fetched.  When an answer whose body follows at once
 * is queued (api_tlsio_hold), the header's record is kept here and
 * written with the body's record, which libmicrohttpd sends in the same
 * call (MHD_send_hdr_and_body_ in mhd_send.c), in one sendmsg().
 *
 * The state is the connection's socket context, set up when the
 * connection starts and freed when libmicrohttpd reports it closed, which
 * it does after its TLS session is gone (daemon.c, the cleanup).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <gnutls/gnutls.h>

#include "api/api_int.h"

#define IN_CAP 4096  /* a request's record, headers and token, fits */
#define OUT_CAP 2048 /* an answer's header record fits */
#define IOV_CAP 16   /* records written in one call */

struct api_tlsio {
	int fd;
	int hold;      /* the next record written is a held header's */
	size_t held;   /* bytes of out[] still to send */
	size_t rpos;   /* in[rpos, rlen) is read but not yet consumed */
	size_t rlen;
	unsigned char out[OUT_CAP];
	unsigned char in[IN_CAP];
};

static ssize_t
pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	struct api_tlsio *io = ptr;
	size_t n;

	if (io->rpos == io->rlen) {
		ssize_t got;

		if (len >= sizeof(io->in))
			return recv(io->fd, data, len, 0);
		if ((got = recv(io->fd, io->in, sizeof(io->in), 0)) <= 0)
			return got;
		io->rpos = 0;
		io->rlen = (size_t)got;
	}
	n = io->rlen - io->rpos < len ? io->rlen - io->rpos : len;
	memcpy(data, io->in + io->rpos, n);
	io->rpos += n;
	return (ssize_t)n;
}

/* GnuTLS asks whether a read would find data (its timeouts). */
static int
pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct api_tlsio *io = ptr;
	struct pollfd p = { .fd = io->fd, .events = POLLIN };
	int rc;

	if (io->rpos < io->rlen)
		return 1;
	rc = poll(&p, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
	return rc > 0 ? 1 : rc;
}

static size_t
iov_total(const giovec_t *iov, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

static ssize_t
send_iov(int fd, struct iovec *v, size_t n, int more)
{
	struct msghdr m = { .msg_iov = v, .msg_iovlen = n };

	return sendmsg(fd, &m, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
}

/*
 * Writes the held header (if any) and these records in one call.  GnuTLS
 * is told only about its own bytes: while part of the header is unsent,
 * the call "would block", and GnuTLS offers the same records again.
 */
static ssize_t
push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int iovcnt)
{
	struct api_tlsio *io = ptr;
	struct iovec v[1 + IOV_CAP];
	size_t total = iov_total(iov, iovcnt), off = 0;
	ssize_t n;

	if (io->hold) {
		io->hold = 0;
		if (io->held == 0 && total <= sizeof(io->out)) {
			for (int i = 0; i < iovcnt; i++) {
				memcpy(io->out + off, iov[i].iov_base,
				    iov[i].iov_len);
				off += iov[i].iov_len;
			}
			io->held = total;
			return (ssize_t)total;
		}
		/* Too big to keep: the kernel holds it back instead. */
		if (io->held == 0)
			return send_iov(io->fd, (struct iovec *)(uintptr_t)iov,
			    (size_t)iovcnt, 1);
	}
	if (io->held == 0)
		return send_iov(io->fd, (struct iovec *)(uintptr_t)iov,
		    (size_t)iovcnt, 0);
	if (iovcnt > IOV_CAP)
		iovcnt = IOV_CAP; /* the rest go in GnuTLS's next call */
	v[0].iov_base = io->out;
	v[0].iov_len = io->held;
	memcpy(v + 1, iov, (size_t)iovcnt * sizeof(v[0]));
	if ((n = send_iov(io->fd, v, 1 + (size_t)iovcnt, 0)) < 0)
		return n;
	if ((size_t)n < io->held) {
		memmove(io->out, io->out + n, io->held - (size_t)n);
		io->held -= (size_t)n;
		errno = EAGAIN;
		return -1;
	}
	n -= (ssize_t)io->held;
	io->held = 0;
	if (n == 0) {
		errno = EAGAIN;
		return -1;
	}
	return n;
}

static struct api_tlsio *
tlsio_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

void
api_tlsio_attach(struct MHD_Connection *conn, void **socket_ctx)
{
	const union MHD_ConnectionInfo *ci, *fdi;
	gnutls_session_t s;
	struct api_tlsio *io;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	fdi = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL || ci->tls_session == NULL || fdi == NULL)
		return;
	/* Without memory the connection keeps GnuTLS's own transport. */
	if ((io = malloc(sizeof(*io))) == NULL)
		return;
	io->fd = fdi->connect_fd;
	io->hold = 0;
	io->held = io->rpos = io->rlen = 0;
	s = (gnutls_session_t)ci->tls_session;
	gnutls_transport_set_ptr(s, io);
	gnutls_transport_set_pull_function(s, pull);
	gnutls_transport_set_pull_timeout_function(s, pull_timeout);
	gnutls_transport_set_vec_push_function(s, push);
	*socket_ctx = io;
}

void
api_tlsio_detach(void **socket_ctx)
{
	free(*socket_ctx);
	*socket_ctx = NULL;
}

void
api_tlsio_hold(struct MHD_Connection *conn, const char *method,
    unsigned status, size_t body_len)
{
	struct api_tlsio *io;

	/* Only where libmicrohttpd writes the body right after the header
	 * (rp_props.send_reply_body in connection.c): otherwise the header
	 * would wait for a write that never comes. */
	if (body_len == 0 || status < 200 || status == 204 || status == 304 ||
	    strcmp(method, "HEAD") == 0 || strcmp(method, "CONNECT") == 0)
		return;
	if ((io = tlsio_of(conn)) != NULL)
		io->hold = 1;
}
