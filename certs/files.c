/*
 * files.c - reading and writing the key, secret and certificate files.
 *
 * Writes are atomic and durable: the bytes go to a fresh temporary file in
 * the same directory (created exclusively, never through a symlink, with
 * its final mode from the start), are fsynced, and only then appear under
 * the real name, after which the directory is fsynced too.  A reader, even
 * a running server, sees the old file or the new one, never half of one.
 * Reads of private files refuse anything group or others could touch.
 * This file must never create a private file with a wider mode, even for
 * an instant, and never leave a temporary file behind on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs/certs.h"
#include "certs/certs_int.h"

#define MODE_PRIVATE 0600
#define MODE_PUBLIC 0644
#define TMP_RAND_BYTES 8 /* 16 hex digits: a collision is a non-event */

int
certs_int_file_absent(const char *path)
{
	struct stat st;

	if (path == NULL)
		return CERTS_E_INVAL;
	/* lstat: a dangling symlink is "something" too */
	if (lstat(path, &st) == 0)
		return CERTS_E_EXISTS;
	return errno == ENOENT ? CERTS_OK : CERTS_E_IO;
}

/* Length of the directory part of path, including its trailing '/'. */
static size_t
dir_prefix_len(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash == NULL ? 0 : (size_t)(slash - path) + 1;
}

/*
 * "<dir>/.<base>.<16 hex>.tmp": hidden, beside the target so that rename()
 * stays within one filesystem, and unpredictable so that nobody can
 * pre-create it.
 */
static int
make_temp_name(const char *path, char **out)
{
	static const char hex[] = "0123456789abcdef";
	static const char suffix[] = ".tmp";
	unsigned char rnd[TMP_RAND_BYTES];
	size_t plen = strlen(path), dlen = dir_prefix_len(path), cap, i, o;
	char *buf = NULL;
	int rc;

	*out = NULL;
	/* reject before arithmetic: plen + the decorations may wrap */
	if (plen > SIZE_MAX - 64)
		return CERTS_E_INVAL;
	/* '.' + path + '.' + hex + ".tmp" + NUL */
	cap = 1 + plen + 1 + (size_t)2 * TMP_RAND_BYTES + sizeof(suffix);

	rc = certs_random(rnd, sizeof(rnd));
	if (rc != 0)
		return rc;
	buf = malloc(cap);
	if (buf == NULL)
		return CERTS_E_NOMEM;
	/* Assembled by hand: each piece's length is already known. */
	memcpy(buf, path, dlen);
	o = dlen;
	buf[o++] = '.';
	memcpy(buf + o, path + dlen, plen - dlen);
	o += plen - dlen;
	buf[o++] = '.';
	for (i = 0; i < sizeof(rnd); i++) {
		buf[o++] = hex[rnd[i] >> 4];
		buf[o++] = hex[rnd[i] & 0x0f];
	}
	memcpy(buf + o, suffix, sizeof(suffix));
	*out = buf;
	return CERTS_OK;
}

/*
 * Makes a rename or link in the directory of path durable.  Some
 * filesystems cannot fsync a directory (EINVAL); like SQLite we accept
 * that, since there is nothing better to do there.
 */
static int
fsync_dir_of(const char *path)
{
	size_t dlen = dir_prefix_len(path);
	char *dir = NULL;
	int fd = -1, rc = CERTS_E_IO;

	/* "a/b/key" -> "a/b/", "/key" -> "/", "key" -> "." */
	dir = dlen == 0 ? strdup(".") : strndup(path, dlen);
	if (dir == NULL) {
		rc = CERTS_E_NOMEM;
		goto out;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	if (fsync(fd) != 0 && errno != EINVAL)
		goto out;
	rc = CERTS_OK;
out:
	if (fd >= 0)
		(void)close(fd);
	free(dir);
	return rc;
}

static int
write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return CERTS_E_IO;
		}
		if (n == 0)
			return CERTS_E_IO;
		p += n;
		len -= (size_t)n;
	}
	return CERTS_OK;
}

static int
write_atomic(const char *path, const void *data, size_t len, int overwrite,
    mode_t mode)
{
	char *tmp = NULL;
	int fd = -1, tmp_exists = 0, rc;

	if (path == NULL || path[0] == '\0' || (data == NULL && len > 0))
		return CERTS_E_INVAL;
	if (path[strlen(path) - 1] == '/')
		return CERTS_E_INVAL;
	/* Fail early and cheaply; link() below is what makes it race-free. */
	if (!overwrite) {
		rc = certs_int_file_absent(path);
		if (rc != 0)
			return rc;
	}

	rc = make_temp_name(path, &tmp);
	if (rc != 0)
		goto out;
	/* O_EXCL|O_NOFOLLOW: never write through a planted file or link. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd < 0) {
		rc = errno == ENOENT ? CERTS_E_NOTFOUND : CERTS_E_IO;
		goto out;
	}
	tmp_exists = 1;
	/* The umask may have narrowed the mode; the contract is exact. */
	rc = CERTS_E_IO;
	if (fchmod(fd, mode) != 0)
		goto out;
	rc = write_all(fd, data, len);
	if (rc != 0)
		goto out;
	rc = CERTS_E_IO;
	if (fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;

	if (overwrite) {
		if (rename(tmp, path) != 0)
			goto out;
	} else {
		/* link() refuses an existing target atomically, unlike
		 * rename(), which would silently replace it. */
		if (link(tmp, path) != 0) {
			rc = errno == EEXIST ? CERTS_E_EXISTS : CERTS_E_IO;
			goto out;
		}
		(void)unlink(tmp);
	}
	tmp_exists = 0;
	rc = fsync_dir_of(path);
out:
	if (fd >= 0)
		(void)close(fd);
	if (tmp_exists)
		(void)unlink(tmp);
	free(tmp);
	return rc;
}

int
certs_file_write_private(const char *path, const void *data, size_t len,
    int overwrite)
{
	return write_atomic(path, data, len, overwrite, MODE_PRIVATE);
}

int
certs_file_write_public(const char *path, const void *data, size_t len,
    int overwrite)
{
	return write_atomic(path, data, len, overwrite, MODE_PUBLIC);
}

static int
open_errno_to_rc(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		return CERTS_E_NOTFOUND;
	case EACCES:
	case EPERM:
		return CERTS_E_PERM;
	default:
		return CERTS_E_IO;
	}
}

static int
read_file(const char *path, int private_file, char **data, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t size = 0, got = 0;
	int fd = -1, rc;

	if (data == NULL || len == NULL)
		return CERTS_E_INVAL;
	*data = NULL;
	*len = 0;
	if (path == NULL || path[0] == '\0')
		return CERTS_E_INVAL;

	/* O_NONBLOCK: a FIFO planted at path must not hang us in open(). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = open_errno_to_rc(errno);
		goto out;
	}
	/* fstat on the opened fd: the checked file is the file we read. */
	rc = CERTS_E_IO;
	if (fstat(fd, &st) != 0)
		goto out;
	rc = CERTS_E_PERM;
	if (!S_ISREG(st.st_mode))
		goto out;
	/* A key others can read is already leaked; one they can write can be
	 * swapped for theirs. */
	if (private_file && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		goto out;
	rc = CERTS_E_FORMAT;
	if (st.st_size < 0 || (uintmax_t)st.st_size > CERTS_FILE_MAX)
		goto out;
	size = (size_t)st.st_size;

	/* One spare byte detects a file that grows while we read it, one more
	 * holds the NUL; size <= CERTS_FILE_MAX so this cannot wrap. */
	buf = malloc(size + 2);
	if (buf == NULL) {
		rc = CERTS_E_NOMEM;
		goto out;
	}
	while (got < size + 1) {
		ssize_t n = read(fd, buf + got, size + 1 - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = CERTS_E_IO;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > size) {
		/* Changed under us: not a file written by write_atomic. */
		rc = CERTS_E_IO;
		goto out;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	buf = NULL;
	rc = CERTS_OK;
out:
	if (fd >= 0)
		(void)close(fd);
	/* size + 2 covers every byte read() may have written. */
	if (buf != NULL)
		certs_free_secret(buf, size + 2);
	return rc;
}

int
certs_file_read_private(const char *path, char **data, size_t *len)
{
	return read_file(path, 1, data, len);
}

int
certs_file_read(const char *path, char **data, size_t *len)
{
	return read_file(path, 0, data, len);
}
