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
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
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
 * The socket's descriptor number is made to refer to an eventfd that is
 * never written, so never readable.  That closes the socket (the kernel
 * refuses new connections and drops it from every epoll set by itself),
 * and leaves the daemon a descriptor it may still add to its epoll sets,
 * accept on (ENOTSOCK, ignored) and close at its own stop.  It would take
 * the descriptor out of a set, where it is no longer registered, only
 * when quiesced (never) or when a worker fills its connection limit,
 * which start_daemon() sets beyond what on_accept() lets in.
 *
 * If no eventfd can be had, the socket stays open until the daemon
 * stops; on_accept() turns every new connection away meanwhile.
 */
void
api_listener_close(int fd)
{
	int inert;

	if (fd < 0)
		return;
	inert = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (inert < 0)
		return;
	(void)dup2(inert, fd);
	close(inert);
}
