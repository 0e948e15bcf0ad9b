/*
 * backup.c - one file holding everything a deployment is: a consistent
 * hot copy of the LMDB environment and the key and certificate files.
 *
 * The copy is taken through a read snapshot (mdb_env_copyfd2), so the
 * daemon goes on serving writes meanwhile.  The file is a secret (it holds
 * every private key): it is written 0600, never over an existing file.
 * Format: "CCXBACKUP 1\n", then entries (name, mode, size, bytes), then a
 * SHA-256 of everything before it; restore checks that digest before it
 * writes anything, and only into an empty directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/broker_int.h"
#include "certs/certs.h"

#define MAGIC "CCXBACKUP 1\n"
#define NAME_MAX_LEN 255
#define FILE_MAX ((uint64_t)1 << 40)
#define DB_ENTRY "db/data.mdb"

/* The files of a deployment besides the database. */
static const char *const fixed_files[] = {
	"certs/ca.pem", "certs/ca.key", "certs/server.pem", "certs/server.key",
	"pairwise.key", "admin.token",
};

/* ---- writing ---------------------------------------------------------- */

struct out {
	int fd;
	struct certs_sha256_ctx *h;
};

static int
put_bytes(struct out *o, const void *p, size_t n)
{
	const char *c = p;

	if (certs_sha256_update(o->h, p, n) != 0)
		return BROKER_E_STORAGE;
	while (n > 0) {
		ssize_t w = write(o->fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return errno == ENOSPC ? BROKER_E_FULL : BROKER_E_IO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Entry header: name length (1), name, mode (4), size (8). */
static int
put_header(struct out *o, const char *name, uint32_t mode, uint64_t size)
{
	unsigned char h[1 + NAME_MAX_LEN + 12];
	size_t nl = strlen(name);

	if (nl == 0 || nl > NAME_MAX_LEN)
		return BROKER_E_INVAL;
	h[0] = (unsigned char)nl;
	/* A length-prefixed name, deliberately without its NUL. */
	memcpy(h + 1, name, nl); /* NOLINT(bugprone-not-null-terminated-result) */
	broker_put32(h + 1 + nl, mode);
	broker_put64(h + 5 + nl, size);
	return put_bytes(o, h, 13 + nl);
}

/* Copies an open file into the backup as entry name. */
static int
put_fd(struct out *o, const char *name, int fd, uint32_t mode)
{
	unsigned char buf[65536];
	struct stat st;
	uint64_t left;
	int rc;

	if (fstat(fd, &st) != 0 || lseek(fd, 0, SEEK_SET) != 0)
		return BROKER_E_IO;
	if ((rc = put_header(o, name, mode, (uint64_t)st.st_size)) != 0)
		return rc;
	for (left = (uint64_t)st.st_size; left > 0;) {
		ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return BROKER_E_IO;
		if ((rc = put_bytes(o, buf, (size_t)n)) != 0)
			return rc;
		left -= (uint64_t)n;
	}
	certs_wipe(buf, sizeof(buf));
	return 0;
}

static int
put_file(struct out *o, const char *dir, const char *rel)
{
	char path[BROKER_PATH_MAX];
	struct stat st;
	int fd, rc;

	if ((rc = broker_path(path, dir, rel)) != 0)
		return rc;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return BROKER_E_IO;
	rc = fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
		 ? put_fd(o, rel, fd, (uint32_t)(st.st_mode & 0777))
		 : BROKER_E_IO;
	close(fd);
	return rc;
}

int
broker_backup(struct broker_store *s, const char *data_dir, const char *file)
{
	struct out o = { -1, NULL };
	char tmp[BROKER_PATH_MAX + 16];
	uint8_t digest[CERTS_SHA256_LEN];
	struct dirent *e;
	DIR *d = NULL;
	int dbfd = -1, rc, n;

	n = snprintf(tmp, sizeof(tmp), "%s.db-XXXXXX", file);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return BROKER_E_INVAL;
	/* Exclusive and private from the first byte: it holds every key. */
	if ((o.fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		 O_NOFOLLOW, 0600)) < 0)
		return errno == EEXIST ? BROKER_E_EXISTS : BROKER_E_IO;
	if ((dbfd = mkstemp(tmp)) < 0) {
		rc = BROKER_E_IO;
		goto out;
	}
	unlink(tmp);
	/* A consistent snapshot, compacted, while writers go on. */
	if ((rc = mdb_env_copyfd2(s->env, dbfd, MDB_CP_COMPACT)) != 0) {
		rc = broker_mdb_err(rc);
		goto out;
	}
	if (certs_sha256_begin(&o.h) != 0) {
		rc = BROKER_E_NOMEM;
		goto out;
	}
	if ((rc = put_bytes(&o, MAGIC, sizeof(MAGIC) - 1)) != 0)
		goto out;
	for (size_t i = 0; i < sizeof(fixed_files) / sizeof(fixed_files[0]);
	     i++)
		if ((rc = put_file(&o, data_dir, fixed_files[i])) != 0)
			goto out;
	{
		char keys[BROKER_PATH_MAX];

		if ((rc = broker_path(keys, data_dir, "keys")) != 0)
			goto out;
		if ((d = opendir(keys)) == NULL) {
			rc = BROKER_E_IO;
			goto out;
		}
	}
	while ((e = readdir(d)) != NULL) {
		char rel[300];

		if (e->d_name[0] == '.')
			continue;
		n = snprintf(rel, sizeof(rel), "keys/%s", e->d_name);
		if (n < 0 || (size_t)n >= sizeof(rel)) {
			rc = BROKER_E_INVAL;
			goto out;
		}
		if ((rc = put_file(&o, data_dir, rel)) != 0)
			goto out;
	}
	if ((rc = put_fd(&o, DB_ENTRY, dbfd, 0600)) != 0)
		goto out;
	rc = certs_sha256_end(o.h, digest) == 0 ? 0 : BROKER_E_STORAGE;
	o.h = NULL;
	/* The digest itself is not hashed: write it raw. */
	if (rc == 0 && write(o.fd, digest, sizeof(digest)) !=
			   (ssize_t)sizeof(digest))
		rc = BROKER_E_IO;
	if (rc == 0 && fsync(o.fd) != 0)
		rc = BROKER_E_IO;
out:
	if (d != NULL)
		closedir(d);
	certs_sha256_abort(o.h);
	if (dbfd >= 0)
		close(dbfd);
	close(o.fd);
	if (rc != 0)
		unlink(file);
	return rc;
}

/* ---- restoring ---------------------------------------------------------- */

/* Reads exactly n bytes (hashing them when h is set). */
static int
get_bytes(int fd, void *p, size_t n, struct certs_sha256_ctx *h)
{
	char *c = p;
	size_t want = n;

	while (n > 0) {
		ssize_t r = read(fd, c, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return BROKER_E_CORRUPT;
		c += r;
		n -= (size_t)r;
	}
	return h != NULL && certs_sha256_update(h, p, want) != 0
		   ? BROKER_E_STORAGE
		   : 0;
}

/*
 * Walks the backup: with write set, recreates each entry below dir;
 * without, only checks the digest.  Names are checked before use: an
 * entry may not climb out of the data directory.
 */
static int
walk(int fd, const char *dir, int write_files)
{
	struct certs_sha256_ctx *h = NULL;
	unsigned char magic[sizeof(MAGIC) - 1], hdr[12], want[CERTS_SHA256_LEN];
	unsigned char got[CERTS_SHA256_LEN], buf[65536];
	struct stat st;
	off_t end;
	int rc;

	if (fstat(fd, &st) != 0 || st.st_size < (off_t)(sizeof(MAGIC) - 1 +
						    CERTS_SHA256_LEN))
		return BROKER_E_CORRUPT;
	end = st.st_size - CERTS_SHA256_LEN;
	if (lseek(fd, 0, SEEK_SET) != 0 || certs_sha256_begin(&h) != 0)
		return BROKER_E_IO;
	if ((rc = get_bytes(fd, magic, sizeof(magic), h)) != 0)
		goto out;
	if (memcmp(magic, MAGIC, sizeof(magic)) != 0) {
		rc = BROKER_E_CORRUPT;
		goto out;
	}
	while (lseek(fd, 0, SEEK_CUR) < end) {
		unsigned char nl;
		char name[NAME_MAX_LEN + 1], path[BROKER_PATH_MAX];
		uint32_t mode;
		uint64_t size;
		int out = -1;

		if ((rc = get_bytes(fd, &nl, 1, h)) != 0 ||
		    (rc = get_bytes(fd, name, nl, h)) != 0 ||
		    (rc = get_bytes(fd, hdr, 12, h)) != 0)
			goto out;
		name[nl] = '\0';
		mode = broker_get32(hdr);
		size = broker_get64(hdr + 4);
		/* Untrusted: no absolute paths, no "..", no odd modes. */
		if (nl == 0 || name[0] == '/' || strstr(name, "..") != NULL ||
		    memchr(name, '\0', nl) != NULL || (mode & ~0777u) != 0 ||
		    size > FILE_MAX ||
		    (off_t)size > end - lseek(fd, 0, SEEK_CUR)) {
			rc = BROKER_E_CORRUPT;
			goto out;
		}
		if (write_files) {
			if ((rc = broker_path(path, dir, name)) != 0)
				goto out;
			/* As saved, but never writable by others. */
			out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
			    O_NOFOLLOW, (mode_t)(mode & 0744));
			if (out < 0) {
				rc = BROKER_E_IO;
				goto out;
			}
		}
		while (size > 0) {
			size_t n = size < sizeof(buf) ? (size_t)size : sizeof(buf);

			if ((rc = get_bytes(fd, buf, n, h)) != 0 ||
			    (out >= 0 && write(out, buf, n) != (ssize_t)n)) {
				rc = rc != 0 ? rc : BROKER_E_IO;
				if (out >= 0)
					close(out);
				goto out;
			}
			size -= n;
		}
		if (out >= 0 && (fsync(out) != 0 || close(out) != 0)) {
			rc = BROKER_E_IO;
			goto out;
		}
	}
	certs_wipe(buf, sizeof(buf));
	rc = certs_sha256_end(h, got);
	h = NULL;
	if (rc != 0 || (rc = get_bytes(fd, want, sizeof(want), NULL)) != 0)
		goto out;
	rc = certs_ct_equal(got, want, sizeof(got)) ? 0 : BROKER_E_CORRUPT;
out:
	certs_sha256_abort(h);
	return rc;
}

int
broker_restore(const char *file, const char *data_dir)
{
	static const char *const dirs[] = { "", "certs", "keys", "db" };
	DIR *d;
	int fd, rc;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? BROKER_E_NOTFOUND : BROKER_E_IO;
	/* Check the whole file before touching the target. */
	if ((rc = walk(fd, data_dir, 0)) != 0)
		goto out;
	if ((d = opendir(data_dir)) != NULL) {
		struct dirent *e;
		int used = 0;

		while ((e = readdir(d)) != NULL)
			used |= strcmp(e->d_name, ".") != 0 &&
			    strcmp(e->d_name, "..") != 0;
		closedir(d);
		if (used) {
			rc = BROKER_E_EXISTS;
			goto out;
		}
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char path[BROKER_PATH_MAX];

		if ((rc = broker_path(path, data_dir, dirs[i])) != 0)
			goto out;
		if (mkdir(path, 0700) != 0 && !(errno == EEXIST && i == 0)) {
			rc = BROKER_E_IO;
			goto out;
		}
	}
	rc = walk(fd, data_dir, 1);
out:
	close(fd);
	return rc;
}
