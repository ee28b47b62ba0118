/*
 * Batch file operations for hoard's transfer and reconcile, each call one job on a thread of
 * libuv's pool (several handoffs between threads per file, as Node's fs calls cost, were
 * most of the kernel time of a 100,000-file copy on two cores; see README, Performance).
 *
 * copyFiles(pairs, flags) -> Promise<Int32Array>: `pairs` is a Buffer "from\0to\0from\0to\0..."
 * of absolute paths (raw bytes: any name the kernel takes). For each pair in order: open the
 * source (not through a symlink, and only a regular file), create the destination (truncating
 * a file there, never writing through a symlink; its missing parent folders made with mode
 * 700), copy the source's bytes as they were when opened (copy_file_range; read/write where the
 * kernel cannot), give it the source's permission bits and, with flag KEEP_TIMES, its access and
 * modification times, and close it. The result holds 0 or an errno per pair; a destination
 * that failed part-way is removed. With `expect` (a Float64Array of [size, mtimeMs] per pair;
 * NaN size: no expectation), a source whose size or mtime (to the millisecond) is not what
 * was recorded of it, or that is not a regular file, is not copied: NOT_AS_RECORDED (-3). The
 * check is on the file opened, the one whose bytes would be copied (a stat by path before the
 * copy, as stage made, could see another file than the copy then read).
 *
 * placeFiles(pairs, meta) -> Promise<Float64Array>: for reconcile's checkouts of a stored blob
 * into a path where nothing is. For each pair: open the source (a regular file, not through a
 * symlink), set its permission bits and modification time from `meta` (mode, mtimeMs per pair;
 * access time now), rename it to the destination only if nothing is there (RENAME_NOREPLACE),
 * and report [errno, size, mode, mtimeMs, ino] of what was placed (errno EEXIST: something is
 * in the way; the caller takes the careful path).
 *
 * renameFiles(pairs) -> Promise<Int32Array>: for a mirror's new files, written whole beside it
 * (times and mode already theirs): rename each source to its destination only if nothing is
 * there (RENAME_NOREPLACE). 0 or an errno per pair (EEXIST: something is in the way, left as it is).
 *
 * writeBlobs(names, meta, hashes) -> Promise<Int32Array>: restore's writer. `names` holds
 * "pack\0tmp\0dest\0" per file, `meta` WRITE_META numbers per file (see write_one), `hashes`
 * the 32 bytes of SHA-256 each blob must have. For each file: read the blob at its offset in
 * the pack, check its hash (EBADMSG when it is not what its id says, or the pack is short),
 * make it new at `tmp` (what sits there is removed, never followed), write it, give it its
 * owner, mode and times, and rename it to `dest` unless something is there (EEXIST). 0 or an
 * errno per file; nothing is left at `tmp`.
 *
 * hashFiles(names, room, store, out, hashes) -> Promise<void>: the SHA-256 of each file named
 * in `names` ("file\0file\0..."), with what hashFile (libs/hashing) learns of it, in one job per
 * batch instead of a JavaScript thread's open, two fstats, read and close per file (their
 * objects and messages were a third of that thread's time; README, Performance). For each file:
 * open it (never through a symlink), statx it (a regular file only), read it, into its place in
 * `store` when `room` gives it room for its whole size (one read, as hashFile: a short read is
 * its end), else in chunks; statx it again: a file whose size, mtime or ctime moved, or whose
 * bytes read are not its size, changed while it was read and gets no hash. `out` receives
 * HASHED numbers per file (see HASHED), `hashes` 32 bytes per hashed file.
 *
 * writeDirect(name, parts, mode) -> Promise<number>: a new file at `name` (a NUL-terminated
 * path; O_EXCL: never one that is there) holding the bytes of `parts` (Buffers, in order), then
 * synced. Written past the page cache (O_DIRECT, through a 4 MB bounce buffer per thread, the
 * last block padded and the file cut back to its length) where the file system takes it:
 * writing into the page cache copies each byte into memory the system must find first, which
 * on the reference machine cost a first backup ~2 CPU-seconds for its 727 MB of packs, and
 * the sync that follows writes the bytes to the disk anyway. Elsewhere, plain writes. 0 or an
 * errno; a file that failed part-way is removed.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define KEEP_TIMES 1
#define RENAMING 2 /* a copy_job of renameFiles (its own label when it cannot run) */
#define BUF_SIZE (256 * 1024)
#define NOT_AS_RECORDED (-3)

typedef struct {
  char *pairs;
  size_t len;
  int flags;
  double *expect; /* copyFiles: [size, mtimeMs] per pair, or NULL */
  int32_t *results;
  size_t count;
  napi_deferred deferred;
  napi_async_work work;
} copy_job;

/* mkdir -p of the folder holding `path` (mode 700); 0 or -1 with errno. */
static int make_parents(char *path) {
  char *slash = strrchr(path, '/');
  if (!slash || slash == path) return 0;
  *slash = 0;
  int r = mkdir(path, 0700);
  if (r != 0 && errno == ENOENT && make_parents(path) == 0) r = mkdir(path, 0700);
  if (r != 0 && errno == EEXIST) r = 0;
  *slash = '/';
  return r;
}

static int copy_bytes(int in, int out, off_t size, char **buf) {
  off_t left = size;
  int plain = 0;
  while (left > 0) {
    ssize_t n;
    if (!plain) {
      n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
        plain = 1;
        continue;
      }
    } else {
      if (!*buf && !(*buf = malloc(BUF_SIZE))) return ENOMEM;
      n = read(in, *buf, (size_t)(left < BUF_SIZE ? left : BUF_SIZE));
      for (ssize_t done = 0; n > 0 && done < n;) {
        ssize_t w = write(out, *buf + done, (size_t)(n - done));
        if (w < 0) {
          if (errno == EINTR) continue;
          return errno;
        }
        done += w;
      }
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) break; /* the file shrank since it was opened: what is there is copied */
    left -= n;
  }
  return 0;
}

static int copy_one(const char *from, char *to, int flags, const double *expect, char **buf) {
  /* O_NONBLOCK: a fifo put in the source's place must not hang the copy (it is refused below). */
  int in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  /* A symlink now where a file was recorded (O_NOFOLLOW refuses it) is no longer that file. */
  if (in < 0) return expect && errno == ELOOP ? NOT_AS_RECORDED : errno;
  struct stat st;
  if (fstat(in, &st) != 0) {
    int e = errno;
    close(in);
    return e;
  }
  if (!S_ISREG(st.st_mode)) {
    close(in);
    return expect ? NOT_AS_RECORDED : EINVAL; /* the only EINVAL this returns: copy_file_range's falls back to read/write */
  }
  if (expect && ((double)st.st_size != expect[0] || fabs((double)st.st_mtim.tv_sec * 1000.0 + (double)st.st_mtim.tv_nsec / 1e6 - expect[1]) >= 1.0)) {
    close(in);
    return NOT_AS_RECORDED;
  }
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (out < 0 && errno == ENOENT && make_parents(to) == 0) out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (out < 0) {
    int e = errno;
    close(in);
    return e;
  }
  int e = copy_bytes(in, out, st.st_size, buf);
  if (!e && fchmod(out, st.st_mode & 07777) != 0) e = errno;
  if (!e && (flags & KEEP_TIMES)) {
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (futimens(out, times) != 0) e = errno;
  }
  if (close(out) != 0 && !e) e = errno;
  close(in);
  if (e) unlink(to);
  return e;
}

/* The next from/to pair of a pair list, and where the one after starts. */
static void next_pair(char **p, char **from, char **to) {
  *from = *p;
  *to = *from + strlen(*from) + 1;
  *p = *to + strlen(*to) + 1;
}

static void execute(napi_env env, void *data) {
  (void)env;
  copy_job *job = data;
  char *buf = NULL;
  char *p = job->pairs;
  for (size_t i = 0; i < job->count; i++) {
    char *from, *to;
    next_pair(&p, &from, &to);
    const double *expect = job->expect && !isnan(job->expect[2 * i]) ? job->expect + 2 * i : NULL;
    job->results[i] = copy_one(from, to, job->flags, expect, &buf);
  }
  free(buf);
}

static void rename_execute(napi_env env, void *data) {
  (void)env;
  copy_job *job = data;
  char *p = job->pairs;
  for (size_t i = 0; i < job->count; i++) {
    char *from, *to;
    next_pair(&p, &from, &to);
    job->results[i] = renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0 ? 0 : errno;
  }
}

/* Resolve a job's promise with its results as a typed array, or reject it when the job could not run. */
static void settle(napi_env env, napi_status status, napi_deferred deferred, napi_typedarray_type type, const void *results, size_t count, size_t size, const char *failure) {
  napi_value ab, arr;
  void *bytes;
  if (status == napi_ok && napi_create_arraybuffer(env, count * size, &bytes, &ab) == napi_ok) {
    memcpy(bytes, results, count * size);
    napi_create_typedarray(env, type, count, ab, 0, &arr);
    napi_resolve_deferred(env, deferred, arr);
  } else {
    napi_value msg, err;
    napi_create_string_utf8(env, failure, NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_reject_deferred(env, deferred, err);
  }
}

static void complete(napi_env env, napi_status status, void *data) {
  copy_job *job = data;
  settle(env, status, job->deferred, napi_int32_array, job->results, job->count, sizeof(int32_t), job->flags & RENAMING ? "renameFiles: the job could not run" : "copyFiles: the copy could not run");
  napi_delete_async_work(env, job->work);
  free(job->pairs);
  free(job->expect);
  free(job->results);
  free(job);
}

/*
 * A time in ms (as records carry it) as a timespec in that very millisecond, to the
 * microsecond (rounded, never past the millisecond's end): a later stat then reports the
 * millisecond asked for. Seconds as a double (what libuv's utimes takes) are 238 ns apart
 * at today's times, and truncated to the microsecond they fell into the millisecond
 * before now and then (a restored mtime 1 ms early).
 */
static struct timespec ms_to_timespec(double ms) {
  double whole = floor(ms);
  long long us = llround((ms - whole) * 1e3);
  if (us > 999) us = 999;
  long long msi = (long long)whole, sec = msi / 1000, rem = msi % 1000;
  if (rem < 0) { rem += 1000; sec -= 1; }
  return (struct timespec){(time_t)sec, (long)(rem * 1000000 + us * 1000)};
}

#define PLACED 5 /* doubles per pair: errno, size, mode, mtimeMs, ino */

typedef struct {
  char *pairs;
  size_t len;
  double *meta; /* mode, mtimeMs per pair */
  double *results;
  size_t count;
  napi_deferred deferred;
  napi_async_work work;
} place_job;

static int place_one(const char *from, const char *to, double mode, double mtime_ms, double *out) {
  int fd = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return errno;
  struct stat st;
  int e = 0;
  if (fstat(fd, &st) != 0) e = errno;
  else if (!S_ISREG(st.st_mode)) e = EINVAL;
  else if (fchmod(fd, (mode_t)mode & 07777) != 0) e = errno;
  else {
    struct timespec times[2] = {{0, UTIME_NOW}, ms_to_timespec(mtime_ms)};
    if (futimens(fd, times) != 0) e = errno;
    else if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) != 0) e = errno;
    else if (fstat(fd, &st) != 0) e = errno;
    else {
      out[1] = (double)st.st_size;
      out[2] = (double)st.st_mode;
      out[3] = (double)st.st_mtim.tv_sec * 1e3 + (double)st.st_mtim.tv_nsec / 1e6;
      out[4] = (double)st.st_ino;
    }
  }
  close(fd);
  return e;
}

static void place_execute(napi_env env, void *data) {
  (void)env;
  place_job *job = data;
  char *p = job->pairs;
  for (size_t i = 0; i < job->count; i++) {
    char *from, *to;
    next_pair(&p, &from, &to);
    double *out = job->results + i * PLACED;
    out[0] = place_one(from, to, job->meta[2 * i], job->meta[2 * i + 1], out);
  }
}

static void place_complete(napi_env env, napi_status status, void *data) {
  place_job *job = data;
  settle(env, status, job->deferred, napi_float64_array, job->results, job->count * PLACED, sizeof(double), "placeFiles: the job could not run");
  napi_delete_async_work(env, job->work);
  free(job->pairs);
  free(job->meta);
  free(job->results);
  free(job);
}

#define WRITE_META 8 /* numbers per file: offset, length, createMode, uid, gid, chmodMode, atimeMs, mtimeMs */

typedef struct {
  char *names;
  size_t len;
  double *meta;
  unsigned char *hashes;
  int32_t *results;
  size_t count;
  napi_deferred deferred;
  napi_async_work work;
} write_job;

/* The pack a writer has open: consecutive files mostly come out of the same one. */
typedef struct {
  char *path;
  int fd;
  unsigned char *buf;
  size_t size;
} write_state;

static int read_blob(write_state *ws, const char *pack, off_t offset, size_t length) {
  if (!ws->path || strcmp(ws->path, pack) != 0) {
    if (ws->path) close(ws->fd);
    free(ws->path);
    ws->path = NULL;
    ws->fd = open(pack, O_RDONLY | O_CLOEXEC);
    if (ws->fd < 0) return errno;
    ws->path = strdup(pack);
  }
  if (length > ws->size) {
    unsigned char *grown = realloc(ws->buf, length);
    if (!grown) return ENOMEM;
    ws->buf = grown;
    ws->size = length;
  }
  for (size_t done = 0; done < length;) {
    ssize_t n = pread(ws->fd, ws->buf + done, length - done, offset + (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EBADMSG; /* the pack is shorter than its index says */
    done += (size_t)n;
  }
  return 0;
}

/*
 * One file: meta is [offset, length, createMode, uid, gid, chmodMode, atimeMs, mtimeMs]. The
 * file is made with the permission bits createMode (less the umask); uid -1 leaves the owner
 * (else fchown, before the mode: a change of owner clears set-id bits), chmodMode -1 leaves
 * the mode, mtimeMs NaN leaves the times, atimeMs 0 sets the access time to now.
 */
static int write_one(write_state *ws, const char *pack, const char *tmp, const char *dest, const double *m, const unsigned char *hash) {
  size_t length = (size_t)m[1];
  int e = read_blob(ws, pack, (off_t)m[0], length);
  if (e) return e;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (!EVP_Digest(ws->buf, length, md, &md_len, EVP_sha256(), NULL)) return EIO;
  if (md_len != 32 || memcmp(md, hash, 32) != 0) return EBADMSG;
  int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int fd = open(tmp, flags, (mode_t)m[2]);
  if (fd < 0 && errno == EEXIST && unlink(tmp) == 0) fd = open(tmp, flags, (mode_t)m[2]);
  if (fd < 0) return errno;
  for (size_t done = 0; !e && done < length;) {
    ssize_t n = write(fd, ws->buf + done, length - done);
    if (n < 0 && errno != EINTR) e = errno;
    if (n > 0) done += (size_t)n;
  }
  if (!e && m[3] >= 0 && fchown(fd, (uid_t)m[3], (gid_t)m[4]) != 0) e = errno;
  if (!e && m[5] >= 0 && fchmod(fd, (mode_t)m[5] & 07777) != 0) e = errno;
  if (!e && m[7] == m[7]) {
    struct timespec times[2] = {m[6] ? ms_to_timespec(m[6]) : (struct timespec){0, UTIME_NOW}, ms_to_timespec(m[7])};
    if (futimens(fd, times) != 0) e = errno;
  }
  if (close(fd) != 0 && !e) e = errno;
  /* Never over anything that appeared at dest meanwhile (a filesystem without NOREPLACE: plain rename). */
  if (!e && renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_NOREPLACE) != 0) e = errno == EINVAL && rename(tmp, dest) == 0 ? 0 : errno;
  if (e) unlink(tmp);
  return e;
}

static void write_execute(napi_env env, void *data) {
  (void)env;
  write_job *job = data;
  write_state ws = {NULL, -1, NULL, 0};
  char *p = job->names;
  for (size_t i = 0; i < job->count; i++) {
    char *pack = p, *tmp = pack + strlen(pack) + 1, *dest = tmp + strlen(tmp) + 1;
    p = dest + strlen(dest) + 1;
    job->results[i] = write_one(&ws, pack, tmp, dest, job->meta + i * WRITE_META, job->hashes + i * 32);
  }
  if (ws.path) close(ws.fd);
  free(ws.path);
  free(ws.buf);
}

static void write_complete(napi_env env, napi_status status, void *data) {
  write_job *job = data;
  settle(env, status, job->deferred, napi_int32_array, job->results, job->count, sizeof(int32_t), "writeBlobs: the job could not run");
  napi_delete_async_work(env, job->work);
  free(job->names);
  free(job->meta);
  free(job->hashes);
  free(job->results);
  free(job);
}

/*
 * Numbers per file of hashFiles: errno (0, an errno, or one of the two below), size, mtimeMs,
 * ctimeMs, ino, dev, mode, nlink, uid, gid, atimeMs, birthtimeMs (0 where the filesystem keeps
 * none), startedAtMs, and the bytes read into its room in `store` (-1: none kept).
 */
#define HASHED 14
#define NOT_A_FILE (-1)
#define CHANGED_WHILE_READING (-2)
#define HASH_CHUNK (2 << 20)

typedef struct {
  char *names;
  size_t count;
  double *room;
  unsigned char *store;
  double *out;
  unsigned char *hashes;
  napi_ref refs[3]; /* store, out, hashes: written by the job, kept alive until it completes */
  int failed;       /* the digest could not be set up */
  napi_deferred deferred;
  napi_async_work work;
} hash_job;

/* Same arithmetic as Node's Stats (sec * 1e3 + nsec / 1e6): the very double fstatSync gives. */
static double stx_ms(struct statx_timestamp t) { return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6; }

static int same_time(struct statx_timestamp a, struct statx_timestamp b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }

static ssize_t read_some(int fd, unsigned char *buf, size_t len) {
  ssize_t n;
  do n = read(fd, buf, len); while (n < 0 && errno == EINTR);
  return n;
}

/* One file; its bytes go through `ctx` (reused: set up once per job). 0 or an error as in HASHED. */
static int hash_one(const char *name, unsigned char *room, size_t room_len, unsigned char **chunk, EVP_MD_CTX *ctx, const EVP_MD *md, double *out, unsigned char *digest) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  out[12] = floor((double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6); /* as Date.now() */
  out[13] = -1;
  int fd = open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno;
  struct statx before, after;
  unsigned int mask = STATX_BASIC_STATS | STATX_BTIME;
  int e = 0;
  uint64_t total = 0;
  if (statx(fd, "", AT_EMPTY_PATH, mask, &before) != 0) e = errno;
  else if (!S_ISREG(before.stx_mode)) e = NOT_A_FILE;
  else if (!EVP_DigestInit_ex(ctx, md, NULL)) e = EIO;
  else if (room && before.stx_size < room_len) {
    ssize_t n = read_some(fd, room, room_len);
    if (n < 0) e = errno;
    else {
      total = (uint64_t)n;
      out[13] = (double)n;
      if (!EVP_DigestUpdate(ctx, room, (size_t)n)) e = EIO;
    }
  } else {
    if (!*chunk && !(*chunk = malloc(HASH_CHUNK))) e = ENOMEM;
    for (ssize_t n = 1; !e && n > 0;) {
      n = read_some(fd, *chunk, HASH_CHUNK);
      if (n < 0) e = errno;
      else if (n > 0 && !EVP_DigestUpdate(ctx, *chunk, (size_t)n)) e = EIO;
      else total += (uint64_t)n;
      if (n < HASH_CHUNK) break; /* a short read of a regular file is its end; growth shows below */
    }
  }
  if (!e && !EVP_DigestFinal_ex(ctx, digest, NULL)) e = EIO;
  if (!e && statx(fd, "", AT_EMPTY_PATH, mask, &after) != 0) e = errno;
  if (!e && (total != before.stx_size || after.stx_size != before.stx_size || !same_time(after.stx_mtime, before.stx_mtime) || !same_time(after.stx_ctime, before.stx_ctime)))
    e = CHANGED_WHILE_READING;
  close(fd);
  if (e) return e;
  out[1] = (double)before.stx_size;
  out[2] = stx_ms(before.stx_mtime);
  out[3] = stx_ms(before.stx_ctime);
  out[4] = (double)before.stx_ino;
  out[5] = (double)makedev(before.stx_dev_major, before.stx_dev_minor);
  out[6] = before.stx_mode;
  out[7] = before.stx_nlink;
  out[8] = before.stx_uid;
  out[9] = before.stx_gid;
  out[10] = stx_ms(before.stx_atime);
  out[11] = before.stx_mask & STATX_BTIME ? stx_ms(before.stx_btime) : 0;
  return 0;
}

static void hash_execute(napi_env env, void *data) {
  (void)env;
  hash_job *job = data;
  EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL); /* fetched once per job, not per file */
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char *chunk = NULL;
  if (!md || !ctx) job->failed = 1;
  char *p = job->names;
  size_t used = 0;
  for (size_t i = 0; !job->failed && i < job->count; i++) {
    size_t room = (size_t)job->room[i];
    double *out = job->out + i * HASHED;
    out[0] = hash_one(p, room ? job->store + used : NULL, room, &chunk, ctx, md, out, job->hashes + i * 32);
    used += room;
    p += strlen(p) + 1;
  }
  free(chunk);
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md);
}

static void hash_complete(napi_env env, napi_status status, void *data) {
  hash_job *job = data;
  for (int i = 0; i < 3; i++)
    if (job->refs[i]) napi_delete_reference(env, job->refs[i]);
  if (status == napi_ok && !job->failed) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, job->deferred, undefined);
  } else {
    napi_value msg, err;
    napi_create_string_utf8(env, job->failed ? "hashFiles: SHA-256 is not available" : "hashFiles: the job could not run", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_reject_deferred(env, job->deferred, err);
  }
  napi_delete_async_work(env, job->work);
  free(job->names);
  free(job->room);
  free(job);
}


#define DIRECT_ALIGN 4096
#define DIRECT_CHUNK (4 << 20)

typedef struct {
  char *name;
  size_t parts;
  const unsigned char **data;
  size_t *lengths;
  int mode;
  int result;
  napi_ref ref; /* the parts array: keeps its Buffers alive until the job completes */
  napi_deferred deferred;
  napi_async_work work;
} direct_job;

/* Write all `len` bytes at `offset`; 0 or an errno. */
static int pwrite_all(int fd, const unsigned char *buf, size_t len, off_t offset) {
  while (len > 0) {
    ssize_t w = pwrite(fd, buf, len, offset);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    buf += w;
    len -= (size_t)w;
    offset += w;
  }
  return 0;
}

/*
 * Write a chunk of the bounce buffer: `len` bytes (whole blocks) past the cache, or, when the file
 * system took O_DIRECT but refuses these blocks (EINVAL: alignment it wants larger), its `exact`
 * bytes plainly, and plainly from then on.
 */
static int put_chunk(int fd, const unsigned char *buf, size_t len, size_t exact, off_t at, int *direct) {
  if (*direct) {
    int e = pwrite_all(fd, buf, len, at);
    if (e != EINVAL) return e;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_DIRECT) != 0) return errno;
    *direct = 0;
  }
  return pwrite_all(fd, buf, exact, at);
}

/* A pool thread's bounce buffer, aligned for O_DIRECT: made once, reused by every pack it writes. */
static __thread unsigned char *bounce;

static int write_direct(direct_job *job, int fd) {
  int direct = 0;
  if (!bounce) {
    void *p = NULL;
    if (posix_memalign(&p, DIRECT_ALIGN, DIRECT_CHUNK) == 0) bounce = p;
  }
  int flags = fcntl(fd, F_GETFL);
  if (bounce && flags >= 0 && fcntl(fd, F_SETFL, flags | O_DIRECT) == 0) direct = 1;
  off_t at = 0;
  size_t fill = 0;
  for (size_t i = 0; i < job->parts; i++) {
    const unsigned char *src = job->data[i];
    size_t left = job->lengths[i];
    if (!direct) {
      /* Dropped to plain writes mid-way: what the bounce buffer holds goes first. */
      int e = fill ? pwrite_all(fd, bounce, fill, at) : 0;
      at += (off_t)fill;
      fill = 0;
      if (!e) e = pwrite_all(fd, src, left, at);
      if (e) return e;
      at += (off_t)left;
      continue;
    }
    while (left > 0) {
      size_t n = DIRECT_CHUNK - fill < left ? DIRECT_CHUNK - fill : left;
      memcpy(bounce + fill, src, n);
      fill += n;
      src += n;
      left -= n;
      if (fill == DIRECT_CHUNK) {
        int e = put_chunk(fd, bounce, fill, fill, at, &direct);
        if (e) return e;
        at += (off_t)fill;
        fill = 0;
      }
    }
  }
  if (fill > 0) {
    /* The last block whole (zeros past the end), then the file cut back to its length. */
    size_t padded = direct ? (fill + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN : fill;
    memset(bounce + fill, 0, padded - fill);
    int e = put_chunk(fd, bounce, padded, fill, at, &direct);
    if (e) return e;
    at += (off_t)fill;
    if (ftruncate(fd, at) != 0) return errno;
  }
  return fsync(fd) == 0 ? 0 : errno;
}

static void direct_execute(napi_env env, void *data) {
  direct_job *job = data;
  int fd = open(job->name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, job->mode);
  if (fd < 0) {
    job->result = errno;
    return;
  }
  job->result = write_direct(job, fd);
  if (close(fd) != 0 && !job->result) job->result = errno;
  if (job->result) unlink(job->name);
}

static void direct_complete(napi_env env, napi_status status, void *data) {
  direct_job *job = data;
  napi_delete_reference(env, job->ref);
  napi_value result;
  napi_create_int32(env, status == napi_ok ? job->result : ECANCELED, &result);
  napi_resolve_deferred(env, job->deferred, result);
  napi_delete_async_work(env, job->work);
  free(job->name);
  free(job->data);
  free(job->lengths);
  free(job);
}

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

/* Groups of `per` names in a name list, or -1 unless whole groups: every name ends in a NUL. */
static size_t name_groups(const void *data, size_t len, size_t per) {
  size_t names = 0;
  for (size_t i = 0; i < len; i++) names += ((const char *)data)[i] == 0;
  if ((len && ((const char *)data)[len - 1] != 0) || names % per) return (size_t)-1;
  return names / per;
}

/* A copy the job owns of what JavaScript passed (the caller's buffers may change meanwhile). */
static void *copy_of(const void *data, size_t size) {
  void *copy = malloc(size ? size : 1);
  if (copy) memcpy(copy, data, size);
  return copy;
}

/* Queue a job on libuv's pool; its promise settles when `complete` runs. */
static napi_value queue_job(napi_env env, const char *label, napi_async_execute_callback run, napi_async_complete_callback complete, void *job, napi_deferred *deferred, napi_async_work *work) {
  napi_value promise, name;
  napi_create_promise(env, deferred, &promise);
  napi_create_string_utf8(env, label, NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, run, complete, job, work);
  napi_queue_async_work(env, *work);
  return promise;
}

/* A copy_job over the from/to pairs of `list` (a Buffer), queued to run `run`; throws `usage` for anything else. */
static napi_value queue_pairs(napi_env env, napi_value list, int32_t flags, napi_value expect, const char *usage, const char *label, napi_async_execute_callback run) {
  bool is_buffer = false, is_typed = false;
  if (!list || napi_is_buffer(env, list, &is_buffer) != napi_ok || !is_buffer) return throw_type(env, usage);
  void *data, *expected = NULL;
  size_t len, expected_len = 0;
  napi_get_buffer_info(env, list, &data, &len);
  size_t pairs = name_groups(data, len, 2);
  if (pairs == (size_t)-1) return throw_type(env, usage);
  if (expect) {
    napi_valuetype kind;
    napi_typeof(env, expect, &kind);
    if (kind != napi_undefined) {
      napi_typedarray_type type;
      if (napi_is_typedarray(env, expect, &is_typed) != napi_ok || !is_typed) return throw_type(env, usage);
      napi_get_typedarray_info(env, expect, &type, &expected_len, &expected, NULL, NULL);
      if (type != napi_float64_array || expected_len != pairs * 2) return throw_type(env, usage);
    }
  }
  copy_job *job = calloc(1, sizeof(copy_job));
  job->pairs = copy_of(data, len);
  job->len = len;
  job->flags = flags;
  job->expect = expected ? copy_of(expected, expected_len * sizeof(double)) : NULL;
  job->count = pairs;
  job->results = calloc(job->count ? job->count : 1, sizeof(int32_t));
  return queue_job(env, label, run, complete, job, &job->deferred, &job->work);
}

static napi_value CopyFiles(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3] = {NULL, NULL, NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t flags = 0;
  if (argc > 1) napi_get_value_int32(env, argv[1], &flags);
  return queue_pairs(env, argv[0], flags & ~RENAMING, argc > 2 ? argv[2] : NULL, "copyFiles(pairs: Buffer, flags: number, expect?: Float64Array): pairs of NUL-terminated from/to paths, and [size, mtimeMs] per pair", "hoard.copyFiles", execute);
}

static napi_value RenameFiles(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return queue_pairs(env, argv[0], RENAMING, NULL, "renameFiles(pairs: Buffer): pairs of NUL-terminated from/to paths", "hoard.renameFiles", rename_execute);
}

static napi_value PlaceFiles(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_buffer = false, is_typed = false;
  if (argc < 2 || napi_is_buffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer || napi_is_typedarray(env, argv[1], &is_typed) != napi_ok || !is_typed)
    return throw_type(env, "placeFiles(pairs: Buffer, meta: Float64Array)");
  void *data, *meta;
  size_t len, meta_len;
  napi_typedarray_type type;
  napi_get_buffer_info(env, argv[0], &data, &len);
  napi_get_typedarray_info(env, argv[1], &type, &meta_len, &meta, NULL, NULL);
  size_t pairs = name_groups(data, len, 2);
  if (pairs == (size_t)-1 || type != napi_float64_array || meta_len != pairs * 2) return throw_type(env, "placeFiles: NUL-terminated from/to pairs, and a mode and an mtime per pair");
  place_job *job = calloc(1, sizeof(place_job));
  job->count = pairs;
  job->pairs = copy_of(data, len);
  job->len = len;
  job->meta = copy_of(meta, meta_len * sizeof(double));
  job->results = calloc(job->count ? job->count * PLACED : 1, sizeof(double));
  return queue_job(env, "hoard.placeFiles", place_execute, place_complete, job, &job->deferred, &job->work);
}

static napi_value WriteBlobs(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool names_buf = false, is_typed = false, hashes_buf = false;
  if (argc < 3 || napi_is_buffer(env, argv[0], &names_buf) != napi_ok || !names_buf || napi_is_typedarray(env, argv[1], &is_typed) != napi_ok || !is_typed ||
      napi_is_buffer(env, argv[2], &hashes_buf) != napi_ok || !hashes_buf)
    return throw_type(env, "writeBlobs(names: Buffer, meta: Float64Array, hashes: Buffer)");
  void *names, *meta, *hashes;
  size_t len, meta_len, hashes_len;
  napi_typedarray_type type;
  napi_get_buffer_info(env, argv[0], &names, &len);
  napi_get_typedarray_info(env, argv[1], &type, &meta_len, &meta, NULL, NULL);
  napi_get_buffer_info(env, argv[2], &hashes, &hashes_len);
  size_t files = name_groups(names, len, 3);
  if (files == (size_t)-1 || type != napi_float64_array || meta_len != files * WRITE_META || hashes_len != files * 32)
    return throw_type(env, "writeBlobs: NUL-terminated pack/tmp/dest names, WRITE_META numbers and a 32-byte hash per file");
  write_job *job = calloc(1, sizeof(write_job));
  job->count = files;
  job->names = copy_of(names, len);
  job->len = len;
  job->meta = copy_of(meta, meta_len * sizeof(double));
  job->hashes = copy_of(hashes, hashes_len);
  job->results = calloc(job->count ? job->count : 1, sizeof(int32_t));
  return queue_job(env, "hoard.writeBlobs", write_execute, write_complete, job, &job->deferred, &job->work);
}

/* The bytes of a Buffer or typed array argument, and a reference that keeps them alive. */
static int output_of(napi_env env, napi_value value, void **data, size_t *bytes, napi_ref *ref) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  size_t length;
  if (napi_get_typedarray_info(env, value, &type, &length, data, NULL, NULL) != napi_ok) return 0;
  *bytes = length * (type == napi_float64_array ? 8 : type == napi_uint8_array ? 1 : 0);
  return *bytes > 0 || length == 0 ? napi_create_reference(env, value, 1, ref) == napi_ok : 0;
}

static napi_value HashFiles(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const char *usage = "hashFiles(names: Buffer, room: Float64Array, store: Buffer, out: Float64Array, hashes: Buffer)";
  bool names_buf = false, room_typed = false;
  if (argc < 5 || napi_is_buffer(env, argv[0], &names_buf) != napi_ok || !names_buf || napi_is_typedarray(env, argv[1], &room_typed) != napi_ok || !room_typed) return throw_type(env, usage);
  void *names, *room;
  size_t len, room_len;
  napi_typedarray_type type;
  napi_get_buffer_info(env, argv[0], &names, &len);
  napi_get_typedarray_info(env, argv[1], &type, &room_len, &room, NULL, NULL);
  size_t files = name_groups(names, len, 1);
  if (files == (size_t)-1 || type != napi_float64_array || room_len != files) return throw_type(env, "hashFiles: NUL-terminated names and a room size per file");
  hash_job *job = calloc(1, sizeof(hash_job));
  void *store, *out, *hashes;
  size_t store_len, out_len, hashes_len;
  int ok = output_of(env, argv[2], &store, &store_len, &job->refs[0]) && output_of(env, argv[3], &out, &out_len, &job->refs[1]) && output_of(env, argv[4], &hashes, &hashes_len, &job->refs[2]);
  double wanted = 0;
  for (size_t i = 0; ok && i < files; i++) {
    double r = ((double *)room)[i];
    ok = r >= 0 && r == floor(r);
    wanted += r;
  }
  if (!ok || wanted > (double)store_len || out_len != files * HASHED * sizeof(double) || hashes_len != files * 32) {
    for (int i = 0; i < 3; i++)
      if (job->refs[i]) napi_delete_reference(env, job->refs[i]);
    free(job);
    return throw_type(env, "hashFiles: room sizes within the store, HASHED numbers and 32 bytes of hash per file");
  }
  job->count = files;
  job->names = copy_of(names, len);
  job->room = copy_of(room, room_len * sizeof(double));
  job->store = store;
  job->out = out;
  job->hashes = hashes;
  return queue_job(env, "hoard.hashFiles", hash_execute, hash_complete, job, &job->deferred, &job->work);
}

static napi_value WriteDirect(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const char *usage = "writeDirect(name: Buffer, parts: Buffer[], mode: number)";
  bool name_buf = false, is_array = false;
  if (argc < 3 || napi_is_buffer(env, argv[0], &name_buf) != napi_ok || !name_buf || napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array) return throw_type(env, usage);
  void *name;
  size_t len;
  napi_get_buffer_info(env, argv[0], &name, &len);
  if (name_groups(name, len, 1) != 1) return throw_type(env, "writeDirect: one NUL-terminated name");
  int32_t mode = 0600;
  if (napi_get_value_int32(env, argv[2], &mode) != napi_ok) return throw_type(env, usage);
  uint32_t parts = 0;
  napi_get_array_length(env, argv[1], &parts);
  direct_job *job = calloc(1, sizeof(direct_job));
  job->parts = parts;
  job->data = calloc(parts ? parts : 1, sizeof(*job->data));
  job->lengths = calloc(parts ? parts : 1, sizeof(size_t));
  for (uint32_t i = 0; i < parts; i++) {
    napi_value part;
    bool is_buffer = false;
    void *bytes = NULL;
    if (napi_get_element(env, argv[1], i, &part) != napi_ok || napi_is_buffer(env, part, &is_buffer) != napi_ok || !is_buffer ||
        napi_get_buffer_info(env, part, &bytes, &job->lengths[i]) != napi_ok) {
      free(job->data);
      free(job->lengths);
      free(job);
      return throw_type(env, "writeDirect: parts must be Buffers");
    }
    job->data[i] = bytes;
  }
  job->name = copy_of(name, len);
  job->mode = mode;
  napi_create_reference(env, argv[1], 1, &job->ref);
  return queue_job(env, "hoard.writeDirect", direct_execute, direct_complete, job, &job->deferred, &job->work);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "copyFiles", NAPI_AUTO_LENGTH, CopyFiles, NULL, &fn);
  napi_set_named_property(env, exports, "copyFiles", fn);
  napi_create_function(env, "renameFiles", NAPI_AUTO_LENGTH, RenameFiles, NULL, &fn);
  napi_set_named_property(env, exports, "renameFiles", fn);
  napi_create_function(env, "placeFiles", NAPI_AUTO_LENGTH, PlaceFiles, NULL, &fn);
  napi_set_named_property(env, exports, "placeFiles", fn);
  napi_create_function(env, "writeBlobs", NAPI_AUTO_LENGTH, WriteBlobs, NULL, &fn);
  napi_set_named_property(env, exports, "writeBlobs", fn);
  napi_create_function(env, "hashFiles", NAPI_AUTO_LENGTH, HashFiles, NULL, &fn);
  napi_set_named_property(env, exports, "hashFiles", fn);
  napi_create_function(env, "writeDirect", NAPI_AUTO_LENGTH, WriteDirect, NULL, &fn);
  napi_set_named_property(env, exports, "writeDirect", fn);
  return exports;
}
