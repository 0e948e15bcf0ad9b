/*
 * listener.c - the listening sockets: bound before the daemons start, and
 * closed under them when the broker stops.
 *
 * libmicrohttpd is handed a socket bound here (MHD_OPTION_LISTEN_SOCKET)
 * so that a bad address is reported as such and port 0 can be read back.
 * At a stop the socket must close at once, so that new connections are
 * refused while open ones finish.  MHD_quiesce_daemon() is meant for
 * that, but with an epoll thread pool libmicrohttpd 0.9.75 lets the
 * caller and a worker both take the socket out of the worker's epoll set,
 * and aborts the process when the loser's epoll_ctl() fails ("Failed to
 * remove listen FD from epoll set", seen at SIGTERM under load).  So the
 * daemon is never quiesced; api_listener_close() closes the socket under
 * it instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/api_int.h"

#define LISTEN_BACKLOG 1024

static int
fail(char *errbuf, size_t errcap, const char *what, const char *why)
{
	if (errcap > 0 && snprintf(errbuf, errcap, "%s: %s", what, why) < 0)
		errbuf[0] = '\0';
	return API_E_CONFIG;
}

int
api_listener_bind(const char *listen_spec, int *out_fd, unsigned *out_port,
    char *errbuf, size_t errcap)
{
	char host[256], port[16];
	const char *spec = listen_spec, *colon;
	struct addrinfo hints = { 0 }, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	size_t hl;
	int fd = -1, one = 1, rc;

	colon = strrchr(spec, ':');
	if (colon == NULL || colon == spec || strlen(colon + 1) == 0 ||
	    strlen(colon + 1) >= sizeof(port))
		return fail(errbuf, errcap, spec, "expected HOST:PORT");
	if (spec[0] == '[' && colon[-1] == ']') {
		spec++;
		hl = (size_t)(colon - spec) - 1;
	} else
		hl = (size_t)(colon - spec);
	if (hl == 0 || hl >= sizeof(host))
		return fail(errbuf, errcap, listen_spec, "bad host");
	memcpy(host, spec, hl);
	host[hl] = '\0';
	memcpy(port, colon + 1, strlen(colon + 1) + 1);
	/* getaddrinfo() takes "99999" and binds it modulo 65536. */
	if (strspn(port, "0123456789") != strlen(port) ||
	    strtoul(port, NULL, 10) > 65535)
		return fail(errbuf, errcap, listen_spec,
		    "the port must be a number, 0-65535");
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0)
		return fail(errbuf, errcap, listen_spec, gai_strerror(rc));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, LISTEN_BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		rc = fail(errbuf, errcap, listen_spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return rc;
	}
	freeaddrinfo(ai);
	*out_fd = fd;
	*out_port = ntohs(ss.ss_family == AF_INET6
		? ((struct sockaddr_in6 *)&ss)->sin6_port
		: ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

/*
 * The descriptors the broker may need: one per connection, one a worker
 * may hold before on_accept() turns a connection away, each worker's
 * epoll and wake-up descriptors, and the store's, logs' and threads'.
 */
#define FD_PER_WORKER 4
#define FD_RESERVE 128

/*
 * An accept() that fails for want of descriptors sets libmicrohttpd's
 * "at limit" state, in which a worker takes the listening socket out of
 * its epoll set at its next turn; once api_listener_close() has run, the
 * socket is no longer there and that aborts the process.  (And a client
 * turned away for want of descriptors gets no answer at all.)  So the
 * soft limit on open files is raised as far as the connection limit
 * needs and the hard limit allows, and if that is not far enough, the
 * connection limit comes down to what the descriptors allow.
 */
int
api_listener_fd_budget(unsigned *max_conns, unsigned workers)
{
	struct rlimit rl;
	rlim_t fixed = (rlim_t)workers * FD_PER_WORKER + FD_RESERVE;
	rlim_t need = fixed + *max_conns;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return API_E_CONFIG;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need
			? rl.rlim_max : need;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0 ||
		    getrlimit(RLIMIT_NOFILE, &rl) != 0)
			return API_E_CONFIG;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_cur <= fixed)
		return API_E_CONFIG;
	fprintf(stderr, "ccx-broker: warning: --max-connections %u lowered "
	    "to %llu: the open-files limit is %llu (ulimit -n)\n", *max_conns,
	    (unsigned long long)(rl.rlim_cur - fixed),
	    (unsigned long long)rl.rlim_cur);
	*max_conns = (unsigned)(rl.rlim_cur - fixed);
	return 0;
}

int
api_listener_inert(void)
{
	return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

/*
 * fd's number is made to refer to inert, an eventfd never written, so
 * never readable.  That closes the socket (the kernel refuses new
 * connections and drops it from every epoll set by itself), and leaves
 * the daemon a descriptor it may still add to its epoll sets, accept on
 * (ENOTSOCK, ignored) and close at its own stop.  It would take the
 * descriptor out of a set, where it is no longer registered, only when
 * quiesced (never), when a worker fills its connection limit (which
 * start_daemon() sets beyond what on_accept() lets in) or when accept()
 * runs out of descriptors (which api_listener_fd_budget() provides for).
 * The eventfd is made at start, so that no descriptor is needed now.
 */
void
api_listener_close(int fd, int inert)
{
	/* dup2 clears close-on-exec on fd; nothing execs meanwhile. */
	if (fd >= 0 && inert >= 0 && dup2(inert, fd) == fd)
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
}
