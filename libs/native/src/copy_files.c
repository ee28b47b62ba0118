/*
 * copyFiles(pairs, flags) -> Promise<Int32Array>, for hoard transfer's copies between two
 * folders of this machine. `pairs` is a Buffer "from\0to\0from\0to\0..." of absolute paths
 * (raw bytes: any name the kernel takes). On one thread of libuv's pool, for each pair in
 * order: open the source (not through a symlink, and only a regular file), create the
 * destination (truncating a file there, never writing through a symlink; its missing parent
 * folders made with mode 700), copy the source's bytes as they were when opened
 * (copy_file_range; read/write where the kernel cannot), give it the source's permission
 * bits and, with flag KEEP_TIMES, its access and modification times, and close it. The
 * result holds 0 or an errno per pair; a destination that failed part-way is removed.
 *
 * Why: copying file by file with Node's fs.copyFile + utimes costs several handoffs between
 * threads per file; on two cores a 100,000-file copy spent 3x the kernel time of the same
 * copy done here in batches (see README, Performance).
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEEP_TIMES 1
#define BUF_SIZE (256 * 1024)

typedef struct {
  char *pairs;
  size_t len;
  int flags;
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

static int copy_one(const char *from, char *to, int flags, char **buf) {
  /* O_NONBLOCK: a fifo put in the source's place must not hang the copy (it is refused below). */
  int in = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (in < 0) return errno;
  struct stat st;
  if (fstat(in, &st) != 0) {
    int e = errno;
    close(in);
    return e;
  }
  if (!S_ISREG(st.st_mode)) {
    close(in);
    return EINVAL; /* the only EINVAL this returns: copy_file_range's falls back to read/write */
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

static void execute(napi_env env, void *data) {
  (void)env;
  copy_job *job = data;
  char *buf = NULL;
  char *p = job->pairs;
  for (size_t i = 0; i < job->count; i++) {
    char *from = p;
    char *to = from + strlen(from) + 1;
    p = to + strlen(to) + 1;
    job->results[i] = copy_one(from, to, job->flags, &buf);
  }
  free(buf);
}

static void complete(napi_env env, napi_status status, void *data) {
  copy_job *job = data;
  napi_value ab, arr;
  void *bytes;
  if (status == napi_ok && napi_create_arraybuffer(env, job->count * sizeof(int32_t), &bytes, &ab) == napi_ok) {
    memcpy(bytes, job->results, job->count * sizeof(int32_t));
    napi_create_typedarray(env, napi_int32_array, job->count, ab, 0, &arr);
    napi_resolve_deferred(env, job->deferred, arr);
  } else {
    napi_value msg, err;
    napi_create_string_utf8(env, "copyFiles: the copy could not run", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_reject_deferred(env, job->deferred, err);
  }
  napi_delete_async_work(env, job->work);
  free(job->pairs);
  free(job->results);
  free(job);
}

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static napi_value CopyFiles(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_buffer = false;
  if (argc < 1 || napi_is_buffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer) return throw_type(env, "copyFiles(pairs: Buffer, flags: number)");
  void *data;
  size_t len;
  napi_get_buffer_info(env, argv[0], &data, &len);
  int32_t flags = 0;
  if (argc > 1) napi_get_value_int32(env, argv[1], &flags);
  /* Whole pairs only: every name ends in a NUL, and there is an even number of them. */
  size_t names = 0;
  for (size_t i = 0; i < len; i++) names += ((char *)data)[i] == 0;
  if ((len && ((char *)data)[len - 1] != 0) || names % 2) return throw_type(env, "copyFiles: pairs must be NUL-terminated from/to paths");
  copy_job *job = calloc(1, sizeof(copy_job));
  job->pairs = malloc(len ? len : 1);
  memcpy(job->pairs, data, len);
  job->len = len;
  job->flags = flags;
  job->count = names / 2;
  job->results = calloc(job->count ? job->count : 1, sizeof(int32_t));
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "hoard.copyFiles", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "copyFiles", NAPI_AUTO_LENGTH, CopyFiles, NULL, &fn);
  napi_set_named_property(env, exports, "copyFiles", fn);
  return exports;
}
