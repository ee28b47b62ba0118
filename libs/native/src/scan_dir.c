/*
 * readFolders(absPaths, relPrefixesJson, rootJson) for hoard scan: list each folder with
 * getdents, sort it in hoard's path order, statx each entry relative to the folder's
 * descriptor, and write the `file` records as JSONL bytes, several folders at once on
 * threads. Per folder: null when it needs the JavaScript path (a .hoardignore inside, or
 * a name or symlink target that is not valid UTF-8), {code, message} when it cannot be
 * read, else { segments: Array<Buffer | string | [kind, name]>, runs, files, bytes }, where a
 * Buffer is JSONL for a run of files, a string a subfolder to enter next, and [kind, name] a
 * special file to report; runs[i] = [first name, last name, fingerprint] of the i-th Buffer.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

typedef struct { char *name; size_t len; unsigned char type; int is_dir; } entry;
typedef struct { char *buf; size_t len, cap; } sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
  if (b->len + n > b->cap) { b->cap = (b->len + n) * 2 + 4096; b->buf = realloc(b->buf, b->cap); }
  memcpy(b->buf + b->len, s, n); b->len += n;
}
/* A string literal, its length known at compile time. */
#define sb_lit(b, s) sb_add((b), (s), sizeof(s) - 1)
/* Decimal digits of v into the end of t; returns where they start (snprintf was a large share of the cost). */
static char *u64_digits(unsigned long long v, char *end) {
  do { *--end = (char)('0' + v % 10); v /= 10; } while (v);
  return end;
}
static void sb_int(sbuf *b, unsigned long long v) { char t[24]; char *p = u64_digits(v, t + sizeof t); sb_add(b, p, (size_t)(t + sizeof t - p)); }
/*
 * Same arithmetic as Node's Stats (sec * 1e3 + nsec / 1e6), so the value is the double
 * JavaScript computes. Printed with integer arithmetic (snprintf of doubles dominated the
 * folder's cost): six decimals, trailing zeros dropped. From 2^33 ms (1970-04-10) on, a
 * double's half-ulp exceeds the 5e-7 rounding of six decimals, so the text reads back to
 * exactly this double; earlier or odd values take the slow exact path.
 */
static void sb_ms(sbuf *b, long long sec, unsigned nsec) {
  char t[48]; double v = (double)sec * 1e3 + (double)nsec / 1e6;
  if (!(v >= 8589934592.0 && v < 9007199254740992.0)) {
    int n = snprintf(t, sizeof t, "%.17g", v); sb_add(b, t, n); return;
  }
  unsigned long long whole = (unsigned long long)v;
  unsigned long long frac = (unsigned long long)llround((v - (double)whole) * 1e6);
  if (frac >= 1000000ULL) { whole++; frac -= 1000000ULL; }
  char *p = u64_digits(whole, t + 24);
  int n = (int)(t + 24 - p);
  memmove(t, p, (size_t)n);
  if (frac) {
    char f[8]; int k = 6;
    for (int i = 5; i >= 0; i--) { f[i] = (char)('0' + frac % 10); frac /= 10; }
    while (k > 0 && f[k - 1] == '0') k--;
    t[n++] = '.'; memcpy(t + n, f, (size_t)k); n += k;
  }
  sb_add(b, t, (size_t)n);
}
static void sb_json_body(sbuf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') { char t[2] = {'\\', (char)c}; sb_add(b, t, 2); }
    else if (c == '\n') sb_add(b, "\\n", 2);
    else if (c == '\t') sb_add(b, "\\t", 2);
    else if (c == '\r') sb_add(b, "\\r", 2);
    else if (c == '\b') sb_add(b, "\\b", 2);
    else if (c == '\f') sb_add(b, "\\f", 2);
    else if (c < 0x20 || c == 0x7f) { char t[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]}; sb_add(b, t, 6); }
    else sb_add(b, (const char *)&c, 1);
  }
}

/*
 * A run's fingerprint: 128 bits over every file's name and stat fields (size, mtime,
 * ctime to the nanosecond, inode, device, mode, link target), two xxh64-style lanes fed
 * differently. Equal fingerprints mean the run's files look exactly as they did: what
 * hoard's stat fast path would check file by file (see skip-unchanged.ts).
 */
#define FP_P1 0x9E3779B185EBCA87ULL
#define FP_P2 0xC2B2AE3D27D4EB4FULL
#define FP_P3 0x165667B19E3779F9ULL
#define FP_P4 0x85EBCA77C2B2AE63ULL
typedef struct { uint64_t a, b; } fp128;
static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static void fp_word(fp128 *f, uint64_t v) {
  f->a = rotl64(f->a + v * FP_P2, 31) * FP_P1;
  f->b = rotl64(f->b + (v ^ FP_P4) * FP_P3, 27) * FP_P2;
}
static void fp_bytes(fp128 *f, const char *s, size_t n) {
  fp_word(f, (uint64_t)n);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = 0; size_t k = n - i < 8 ? n - i : 8;
    memcpy(&v, s + i, k);
    fp_word(f, v);
  }
}
static uint64_t fp_avalanche(uint64_t h) {
  h ^= h >> 33; h *= FP_P2; h ^= h >> 29; h *= FP_P3; h ^= h >> 32; return h;
}

/* Strict UTF-8 (no overlongs, no surrogates, max U+10FFFF), as Node decodes it losslessly. */
static int valid_utf8(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) { i++; continue; }
    size_t k; unsigned cp;
    if ((c & 0xe0) == 0xc0) { k = 1; cp = c & 0x1f; if (cp < 2) return 0; }
    else if ((c & 0xf0) == 0xe0) { k = 2; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { k = 3; cp = c & 0x07; }
    else return 0;
    if (i + k >= n) return 0;
    for (size_t j = 1; j <= k; j++) { if (i + j >= n || (s[i + j] & 0xc0) != 0x80) return 0; cp = (cp << 6) | (s[i + j] & 0x3f); }
    if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
    i += k + 1;
  }
  return 1;
}

/* Byte order of the name, a folder counting as "name/": equals hoard's full-path order. */
static int compare(const void *pa, const void *pb) {
  const entry *a = pa, *b = pb;
  size_t n = a->len < b->len ? a->len : b->len;
  int r = memcmp(a->name, b->name, n);
  if (r) return r;
  int ca = a->len > n ? (unsigned char)a->name[n] : (a->is_dir ? '/' : -1);
  int cb = b->len > n ? (unsigned char)b->name[n] : (b->is_dir ? '/' : -1);
  return ca - cb;
}

/* One folder's result, built without touching JavaScript (so threads can build it). */
/* kind: 0 JSONL (with its run: first and last name, fingerprint), 1 subfolder, 2 special */
typedef struct { int kind; char *data; size_t len; const char *special; char *first, *last; fp128 fp; } segment;
/* The run of files being formatted: its first and last name and fingerprint so far. */
typedef struct { const char *first; size_t first_len; const char *last; size_t last_len; fp128 fp; } run_state;
typedef struct {
  int status; /* 0 read, 1 needs the JavaScript path, 2 error */
  int err;
  segment *segs; size_t nsegs, segcap;
  double files, bytes;
} folder_result;

typedef struct { const char *abs; const char *rel; size_t rel_len; const char *root; size_t root_len; folder_result *out; } folder_job;

static segment *add_segment(folder_result *r, int kind, char *data, size_t len, const char *special) {
  if (r->nsegs == r->segcap) { r->segcap = r->segcap ? r->segcap * 2 : 16; r->segs = realloc(r->segs, r->segcap * sizeof(segment)); }
  r->segs[r->nsegs] = (segment){kind, data, len, special, NULL, NULL, {0, 0}};
  return &r->segs[r->nsegs++];
}
static void end_run(folder_result *r, sbuf *b, run_state *run) {
  if (!b->len) return;
  segment *s = add_segment(r, 0, b->buf, b->len, NULL);
  s->first = strndup(run->first, run->first_len);
  s->last = strndup(run->last, run->last_len);
  s->fp = (fp128){fp_avalanche(run->fp.a), fp_avalanche(run->fp.b)};
  *b = (sbuf){0};
  *run = (run_state){0};
}

static void read_folder(const folder_job *job) {
  folder_result *r = job->out;
  memset(r, 0, sizeof *r);
  entry *es = NULL; size_t n = 0, cap = 0;
  sbuf b = {0};
  run_state run = {0};
  DIR *dir = NULL;
  int dfd = open(job->abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) { r->status = 2; r->err = errno; goto done; }
  dir = fdopendir(dfd);
  if (!dir) { r->status = 2; r->err = errno; close(dfd); goto done; }
  struct dirent *de;
  /* errno is reset before each readdir: other calls in the loop (malloc...) may set it. */
  while ((errno = 0, de = readdir(dir))) {
    const char *nm = de->d_name;
    if (nm[0] == '.' && (nm[1] == 0 || (nm[1] == '.' && nm[2] == 0))) continue;
    size_t len = strlen(nm);
    if (!valid_utf8((const unsigned char *)nm, len) || strcmp(nm, ".hoardignore") == 0) { r->status = 1; goto done; }
    unsigned char t = de->d_type;
    if (t == DT_UNKNOWN) {
      struct stat st;
      if (fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      t = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : S_ISLNK(st.st_mode) ? DT_LNK : S_ISFIFO(st.st_mode) ? DT_FIFO : S_ISSOCK(st.st_mode) ? DT_SOCK : S_ISBLK(st.st_mode) ? DT_BLK : DT_CHR;
    }
    if (n == cap) { cap = cap ? cap * 2 : 64; es = realloc(es, cap * sizeof(entry)); }
    es[n].name = strndup(nm, len); es[n].len = len; es[n].type = t; es[n].is_dir = t == DT_DIR;
    n++;
  }
  if (errno) { r->status = 2; r->err = errno; goto done; }
  qsort(es, n, sizeof(entry), compare);
  char target[4096];
  for (size_t i = 0; i < n; i++) {
    entry *e = &es[i];
    if (e->is_dir) { end_run(r, &b, &run); add_segment(r, 1, e->name, e->len, NULL); e->name = NULL; continue; }
    if (e->type != DT_REG && e->type != DT_LNK) {
      end_run(r, &b, &run);
      const char *kind = e->type == DT_FIFO ? "FIFO" : e->type == DT_SOCK ? "socket" : e->type == DT_BLK ? "block device" : e->type == DT_CHR ? "character device" : "special file";
      add_segment(r, 2, e->name, e->len, kind); e->name = NULL;
      continue;
    }
    struct statx sx;
    if (statx(dfd, e->name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &sx) != 0) continue; /* gone since listing */
    int is_link = S_ISLNK(sx.stx_mode);
    if (!is_link && !S_ISREG(sx.stx_mode)) continue; /* replaced since listing: the next scan sees it */
    ssize_t tlen = 0;
    if (is_link) {
      tlen = readlinkat(dfd, e->name, target, sizeof target);
      if (tlen < 0 || (size_t)tlen >= sizeof target || !valid_utf8((unsigned char *)target, (size_t)tlen)) { r->status = 1; goto done; }
    }
    sb_lit(&b, "{\"type\":\"file\",\"root\":"); sb_add(&b, job->root, job->root_len);
    sb_lit(&b, ",\"path\":\""); sb_add(&b, job->rel, job->rel_len); sb_json_body(&b, e->name, e->len);
    sb_lit(&b, "\",\"size\":"); sb_int(&b, sx.stx_size);
    sb_lit(&b, ",\"mtimeMs\":"); sb_ms(&b, sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec);
    sb_lit(&b, ",\"mode\":"); sb_int(&b, sx.stx_mode);
    sb_lit(&b, ",\"ino\":"); sb_int(&b, sx.stx_ino);
    sb_lit(&b, ",\"dev\":"); sb_int(&b, makedev(sx.stx_dev_major, sx.stx_dev_minor));
    sb_lit(&b, ",\"nlink\":"); sb_int(&b, sx.stx_nlink);
    sb_lit(&b, ",\"uid\":"); sb_int(&b, sx.stx_uid);
    sb_lit(&b, ",\"gid\":"); sb_int(&b, sx.stx_gid);
    sb_lit(&b, ",\"atimeMs\":"); sb_ms(&b, sx.stx_atime.tv_sec, sx.stx_atime.tv_nsec);
    sb_lit(&b, ",\"ctimeMs\":"); sb_ms(&b, sx.stx_ctime.tv_sec, sx.stx_ctime.tv_nsec);
    sb_lit(&b, ",\"birthtimeMs\":");
    if (sx.stx_mask & STATX_BTIME) sb_ms(&b, sx.stx_btime.tv_sec, sx.stx_btime.tv_nsec); else sb_lit(&b, "0");
    if (is_link) { sb_lit(&b, ",\"kind\":\"symlink\",\"target\":\""); sb_json_body(&b, target, (size_t)tlen); sb_lit(&b, "\""); }
    sb_lit(&b, "}\n");
    r->files += 1; r->bytes += (double)sx.stx_size;
    if (!run.first) { run.first = e->name; run.first_len = e->len; run.fp = (fp128){FP_P1, FP_P3}; }
    run.last = e->name; run.last_len = e->len;
    fp_bytes(&run.fp, e->name, e->len);
    fp_word(&run.fp, sx.stx_size);
    fp_word(&run.fp, (uint64_t)sx.stx_mtime.tv_sec); fp_word(&run.fp, sx.stx_mtime.tv_nsec);
    fp_word(&run.fp, (uint64_t)sx.stx_ctime.tv_sec); fp_word(&run.fp, sx.stx_ctime.tv_nsec);
    fp_word(&run.fp, sx.stx_ino);
    fp_word(&run.fp, ((uint64_t)sx.stx_dev_major << 32) | sx.stx_dev_minor);
    fp_word(&run.fp, sx.stx_mode);
    if (is_link) fp_bytes(&run.fp, target, (size_t)tlen);
  }
  end_run(r, &b, &run);
done:
  if (dir) closedir(dir);
  for (size_t i = 0; i < n; i++) free(es[i].name);
  free(es); free(b.buf);
}

static void free_result(folder_result *r) {
  for (size_t i = 0; i < r->nsegs; i++) { free(r->segs[i].data); free(r->segs[i].first); free(r->segs[i].last); }
  free(r->segs);
}

static const char *errno_name(int err) {
  return err == EACCES ? "EACCES" : err == ENOENT ? "ENOENT" : err == ENOTDIR ? "ENOTDIR" : err == EPERM ? "EPERM" : err == ELOOP ? "ELOOP" : err == EMFILE ? "EMFILE" : "EIO";
}

static napi_value to_js(napi_env env, folder_result *r) {
  napi_value v;
  if (r->status == 1) { napi_get_null(env, &v); return v; }
  napi_create_object(env, &v);
  if (r->status == 2) {
    char text[256]; napi_value code, msg;
    snprintf(text, sizeof text, "cannot read folder: %s", strerror(r->err));
    napi_create_string_utf8(env, errno_name(r->err), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
    napi_set_named_property(env, v, "code", code);
    napi_set_named_property(env, v, "message", msg);
    return v;
  }
  napi_value segs; napi_create_array_with_length(env, r->nsegs, &segs);
  napi_value runs; napi_create_array(env, &runs);
  uint32_t nruns = 0;
  for (size_t i = 0; i < r->nsegs; i++) {
    segment *s = &r->segs[i]; napi_value x;
    if (s->kind == 0) {
      void *data; napi_create_buffer_copy(env, s->len, s->data, &data, &x);
      char hex[33]; snprintf(hex, sizeof hex, "%016llx%016llx", (unsigned long long)s->fp.a, (unsigned long long)s->fp.b);
      napi_value run, first, last, fpv; napi_create_array_with_length(env, 3, &run);
      napi_create_string_utf8(env, s->first, NAPI_AUTO_LENGTH, &first);
      napi_create_string_utf8(env, s->last, NAPI_AUTO_LENGTH, &last);
      napi_create_string_utf8(env, hex, 32, &fpv);
      napi_set_element(env, run, 0, first); napi_set_element(env, run, 1, last); napi_set_element(env, run, 2, fpv);
      napi_set_element(env, runs, nruns++, run);
    }
    else if (s->kind == 1) napi_create_string_utf8(env, s->data, s->len, &x);
    else {
      napi_value k, name; napi_create_array_with_length(env, 2, &x);
      napi_create_string_utf8(env, s->special, NAPI_AUTO_LENGTH, &k); napi_create_string_utf8(env, s->data, s->len, &name);
      napi_set_element(env, x, 0, k); napi_set_element(env, x, 1, name);
    }
    napi_set_element(env, segs, (uint32_t)i, x);
  }
  napi_value vf, vb; napi_create_double(env, r->files, &vf); napi_create_double(env, r->bytes, &vb);
  napi_set_named_property(env, v, "segments", segs);
  napi_set_named_property(env, v, "runs", runs);
  napi_set_named_property(env, v, "files", vf);
  napi_set_named_property(env, v, "bytes", vb);
  return v;
}

static char *get_string(napi_env env, napi_value v, size_t *len) {
  size_t n; napi_get_value_string_utf8(env, v, NULL, 0, &n);
  char *s = malloc(n + 1); napi_get_value_string_utf8(env, v, s, n + 1, len); return s;
}

typedef struct { folder_job *jobs; size_t count; size_t next; pthread_mutex_t lock; } job_queue;

static void *worker(void *arg) {
  job_queue *q = arg;
  for (;;) {
    pthread_mutex_lock(&q->lock);
    size_t i = q->next++;
    pthread_mutex_unlock(&q->lock);
    if (i >= q->count) return NULL;
    read_folder(&q->jobs[i]);
  }
}

/*
 * readFolders(absPaths, relPrefixes, rootJson): read several folders at once on up to
 * THREADS threads (the kernel work of a deep tree spreads over the cores); one result per
 * folder: {segments, files, bytes}, null (use the JavaScript path) or {code, message}.
 */
#define THREADS 2
static napi_value ReadFolders(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t count; napi_get_array_length(env, argv[0], &count);
  size_t root_len; char *root = get_string(env, argv[2], &root_len);
  folder_job *jobs = calloc(count ? count : 1, sizeof(folder_job));
  folder_result *results = calloc(count ? count : 1, sizeof(folder_result));
  char **strings = calloc(2 * (count ? count : 1), sizeof(char *));
  for (uint32_t i = 0; i < count; i++) {
    napi_value a, r; size_t al;
    napi_get_element(env, argv[0], i, &a); napi_get_element(env, argv[1], i, &r);
    strings[2 * i] = get_string(env, a, &al);
    strings[2 * i + 1] = get_string(env, r, &jobs[i].rel_len);
    jobs[i] = (folder_job){strings[2 * i], strings[2 * i + 1], jobs[i].rel_len, root, root_len, &results[i]};
  }
  job_queue q = {jobs, count, 0, PTHREAD_MUTEX_INITIALIZER};
  /* HOARD_SCAN_THREADS=1 keeps the reading on one thread (bench/pipe-floor.mjs measures what that costs). */
  const char *want = getenv("HOARD_SCAN_THREADS");
  int nthreads = want ? atoi(want) : THREADS;
  if (nthreads < 1 || nthreads > THREADS) nthreads = THREADS;
  pthread_t threads[THREADS]; int started = 0;
  for (int t = 0; t < nthreads - 1 && (uint32_t)(t + 1) < count; t++) if (pthread_create(&threads[t], NULL, worker, &q) == 0) started++;
  worker(&q); /* this thread works too */
  for (int t = 0; t < started; t++) pthread_join(threads[t], NULL);
  napi_value out; napi_create_array_with_length(env, count, &out);
  for (uint32_t i = 0; i < count; i++) {
    napi_set_element(env, out, i, to_js(env, &results[i]));
    free_result(&results[i]);
    free(strings[2 * i]); free(strings[2 * i + 1]);
  }
  free(jobs); free(results); free(strings); free(root);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "readFolders", NAPI_AUTO_LENGTH, ReadFolders, NULL, &fn);
  napi_set_named_property(env, exports, "readFolders", fn);
  return exports;
}
