/*
 * `agent receive`: exec'd by Tightloop inside the running container. Reads framed files from
 * stdin, writes each to a temporary file beside its target (fsync'd, checksum verified), and only
 * after the apply frame renames them all into place, so a sync cut off at any point leaves the
 * old files untouched. Paths outside the sync targets the PID-1 agent was started with are
 * refused. Then asks the PID-1 agent to restart / signal the process and answers on stdout.
 */
#define _GNU_SOURCE
#include "receive.h"
#include "proto.h"
#include "sha256.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char *targets[TL_MAX_TARGETS];
static int ntargets;
static struct staged { char *tmp; char *final; } staged[TL_MAX_FILES];
static int nstaged;
static int sock = -1;
/* TIGHTLOOP_AGENT_ROOT: where container paths live when the agent runs outside a container (tests,
 * local processes); empty inside a container. Only file operations use it, never the path checks. */
static const char *root = "";
static char sockbuf[16384];
static size_t socklen;

static void discard_staged(void) {
  for (int i = 0; i < nstaged; i++) unlink(staged[i].tmp);
  nstaged = 0;
}

static void emit(const char *line, size_t n) {
  (void)write_all(1, line, n);
}

/* Answers {"type":"done","ok":false,...}, removes temporary files and exits. */
static void __attribute__((noreturn)) fail(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const char *code, const char *fmt, ...) {
  char msg[1024], line[2560];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  discard_staged();
  size_t len = appendf(line, 0, sizeof line, "{\"type\":\"done\",\"ok\":false,\"protocol\":%d,\"code\":\"%s\",\"message\":", TL_PROTOCOL, code);
  len = json_str(line, len, sizeof line, msg, strlen(msg));
  len = appendf(line, len, sizeof line, "}\n");
  emit(line, len);
  exit(2);
}

/* One line from the control socket (without the newline), or NULL when it closed. */
static char *sock_line(void) {
  static char line[sizeof sockbuf];
  for (;;) {
    char *nl = memchr(sockbuf, '\n', socklen);
    if (nl) {
      size_t n = (size_t)(nl - sockbuf);
      memcpy(line, sockbuf, n);
      line[n] = 0;
      memmove(sockbuf, nl + 1, socklen - n - 1);
      socklen -= n + 1;
      return line;
    }
    if (socklen == sizeof sockbuf) return NULL;
    ssize_t r = read(sock, sockbuf + socklen, sizeof sockbuf - socklen);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return NULL;
    socklen += (size_t)r;
  }
}

static void connect_supervisor(void) {
  sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path());
  if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0)
    fail("no-supervisor", "no Tightloop agent runs as the container's main process (%s: %s); the image was not built in live mode", socket_path(), strerror(errno));
  if (write_all(sock, "hello\n", 6) < 0) fail("no-supervisor", "the agent's control socket closed");
  char *l = sock_line();
  int n;
  if (!l || sscanf(l, "targets %d", &n) != 1 || n < 0 || n > TL_MAX_TARGETS) fail("no-supervisor", "the PID-1 agent did not answer hello");
  for (int i = 0; i < n; i++) {
    l = sock_line();
    if (!l) fail("no-supervisor", "the PID-1 agent closed while listing sync targets");
    targets[ntargets++] = strdup(l);
  }
}

static void hello(void) {
  char line[8192];
  size_t len = appendf(line, 0, sizeof line, "{\"type\":\"hello\",\"protocol\":%d,\"agent\":\"%s\",\"targets\":[", TL_PROTOCOL, TL_AGENT_VERSION);
  for (int i = 0; i < ntargets; i++) {
    if (i) len = appendf(line, len, sizeof line, ",");
    len = json_str(line, len, sizeof line, targets[i], strlen(targets[i]));
  }
  len = appendf(line, len, sizeof line, "]}\n");
  emit(line, len);
}

static uint64_t be(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

static void need(void *buf, size_t n, const char *what) {
  ssize_t r = read_full(0, buf, n);
  if (r < 0) fail("io", "reading %s from stdin: %s", what, strerror(errno));
  if ((size_t)r < n) fail("truncated", "stdin ended inside %s (got %zd of %zu bytes): nothing was changed", what, r, n);
}

/* A clean absolute path: no empty, "." or ".." components, no trailing slash. */
static int clean_path(const char *p) {
  if (p[0] != '/' || p[1] == 0) return 0;
  for (const char *c = p; *c;) {
    if (*c != '/') return 0;
    const char *e = strchr(c + 1, '/');
    size_t n = e ? (size_t)(e - c - 1) : strlen(c + 1);
    if (n == 0 || (n == 1 && c[1] == '.') || (n == 2 && c[1] == '.' && c[2] == '.')) return 0;
    c += n + 1;
  }
  return 1;
}

static const char *covering_target(const char *p) {
  for (int i = 0; i < ntargets; i++) {
    size_t n = strlen(targets[i]);
    while (n > 1 && targets[i][n - 1] == '/') n--;
    if (n == 1 && targets[i][0] == '/') return targets[i];
    if (strncmp(p, targets[i], n) == 0 && (p[n] == 0 || p[n] == '/')) return targets[i];
  }
  return NULL;
}

static int under(const char *path, const char *root) {
  size_t n = strlen(root);
  if (n == 1) return 1;
  return strncmp(path, root, n) == 0 && (path[n] == 0 || path[n] == '/');
}

static void mkdirs(char *dir) {
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    mkdir(dir, 0755);
    *p = '/';
  }
  mkdir(dir, 0755);
}

static void receive_file(uint64_t *total) {
  unsigned char h[2];
  need(h, 2, "a path length");
  size_t plen = (size_t)be(h, 2);
  if (plen == 0 || plen >= TL_MAX_PATH) fail("protocol", "path length %zu out of range", plen);
  char path[TL_MAX_PATH];
  need(path, plen, "a path");
  path[plen] = 0;
  if (strlen(path) != plen || !clean_path(path)) fail("refused-path", "%s is not a clean absolute path", path);
  const char *target = covering_target(path);
  if (!target) fail("refused-path", "%s is outside the sync targets the container was started with", path);
  unsigned char meta[4 + 8 + 32];
  need(meta, sizeof meta, "file metadata");
  mode_t mode = (mode_t)be(meta, 4) & 07777;
  uint64_t size = be(meta + 4, 8);
  if (nstaged >= TL_MAX_FILES) fail("protocol", "more than %d files in one sync", TL_MAX_FILES);

  char dir[TL_MAX_PATH];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == dir) dir[1] = 0;
  else *slash = 0;
  const char *base = strrchr(path, '/') + 1;
  char hdir[TL_MAX_PATH * 2], htarget[TL_MAX_PATH * 2];
  snprintf(hdir, sizeof hdir, "%s%s", root, dir);
  snprintf(htarget, sizeof htarget, "%s%s", root, target);
  mkdirs(hdir);
  /* A symlink inside the target must not lead the write elsewhere. */
  char real_dir[PATH_MAX], real_target[PATH_MAX];
  if (!realpath(hdir, real_dir)) fail("io", "folder %s: %s", dir, strerror(errno));
  if (strcmp(path, target) != 0) {
    if (!realpath(htarget, real_target)) fail("io", "sync target %s: %s", target, strerror(errno));
    if (!under(real_dir, real_target)) fail("refused-path", "%s resolves to %s, outside the sync target %s", path, real_dir, target);
  }

  char tmp[TL_MAX_PATH * 2 + 64], final[TL_MAX_PATH * 2];
  snprintf(tmp, sizeof tmp, "%s%s/.%s.tl-%d-%d", root, strcmp(dir, "/") ? dir : "", base, (int)getpid(), nstaged);
  snprintf(final, sizeof final, "%s%s", root, path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) fail("io", "cannot create %s: %s", tmp, strerror(errno));
  staged[nstaged].tmp = strdup(tmp);
  staged[nstaged].final = strdup(final);
  nstaged++;
  sha256_ctx ctx;
  sha256_init(&ctx);
  static unsigned char buf[65536];
  uint64_t left = size;
  while (left > 0) {
    size_t want = left < sizeof buf ? (size_t)left : sizeof buf;
    ssize_t r = read(0, buf, want);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail("io", "reading %s from stdin: %s", path, strerror(errno));
    if (r == 0) fail("truncated", "stdin ended after %llu of %llu bytes of %s: nothing was changed", (unsigned long long)(size - left), (unsigned long long)size, path);
    sha256_update(&ctx, buf, (size_t)r);
    if (write_all(fd, buf, (size_t)r) < 0) fail("io", "writing %s: %s", tmp, strerror(errno));
    left -= (uint64_t)r;
  }
  unsigned char digest[32];
  sha256_final(&ctx, digest);
  if (memcmp(digest, meta + 12, 32) != 0) fail("checksum", "%s arrived with a different sha256 than was sent: nothing was changed", path);
  if (fchmod(fd, mode) < 0) fail("io", "chmod %s: %s", tmp, strerror(errno));
  if (fsync(fd) < 0) fail("io", "fsync %s: %s", tmp, strerror(errno));
  close(fd);
  *total += size;
}

int receive_main(void) {
  double t0 = now_ms();
  const char *r = getenv("TIGHTLOOP_AGENT_ROOT");
  if (r) root = r;
  connect_supervisor();
  hello();
  unsigned char pre[6];
  need(pre, 6, "the preamble");
  if (memcmp(pre, TL_MAGIC, 4) != 0) fail("protocol", "stdin does not start with the Tightloop sync preamble");
  int version = (int)be(pre + 4, 2);
  if (version != TL_PROTOCOL) fail("protocol-mismatch", "Tightloop speaks sync protocol %d, the agent in the container speaks %d", version, TL_PROTOCOL);
  uint64_t total = 0;
  for (;;) {
    unsigned char type;
    need(&type, 1, "a frame");
    if (type == TL_FRAME_FILE) { receive_file(&total); continue; }
    if (type != TL_FRAME_APPLY) fail("protocol", "unknown frame type 0x%02x", type);
    unsigned char a[6];
    need(a, 6, "the apply frame");
    int action = a[0], sig = a[1];
    int listen_wait = (int)be(a + 2, 4);
    for (int i = 0; i < nstaged; i++) {
      if (rename(staged[i].tmp, staged[i].final) < 0) {
        /* Earlier renames stay: say exactly which files are new so the sender falls back. */
        int e = errno, all = nstaged;
        for (int k = i; k < all; k++) unlink(staged[k].tmp);
        nstaged = 0;
        fail("half-applied", "rename to %s failed (%s) after %d of %d files were replaced", staged[i].final, strerror(e), i, all);
      }
    }
    /* No fsync of the directories: each file's data is on disk before its rename (so a target is
     * the old or the new file, never a torn one), and a rename lost to a node crash only leaves
     * the old file, which the next sync replaces. Syncing directories cost a journal commit per
     * target on every save for no further guarantee. */
    double written = now_ms();
    char cmd[64];
    const char *name = action == TL_ACTION_RESTART ? "restart" : action == TL_ACTION_SIGNAL ? "signal" : "none";
    if (action == TL_ACTION_RESTART) snprintf(cmd, sizeof cmd, "restart %d\n", listen_wait);
    else if (action == TL_ACTION_SIGNAL) snprintf(cmd, sizeof cmd, "signal %d\n", sig);
    else snprintf(cmd, sizeof cmd, "none\n");
    int files = nstaged;
    nstaged = 0; /* in place now: nothing to discard */
    if (write_all(sock, cmd, strlen(cmd)) < 0) fail("no-supervisor", "the PID-1 agent went away before the %s", name);
    char *answer = sock_line();
    if (!answer) fail("no-supervisor", "the PID-1 agent went away during the %s", name);
    char line[sizeof sockbuf + 512];
    int ok = strncmp(answer, "ok ", 3) == 0;
    size_t len = appendf(line, 0, sizeof line, "{\"type\":\"done\",\"ok\":%s,\"protocol\":%d,\"files\":%d,\"bytes\":%llu,\"writeMs\":%.1f,\"action\":\"%s\",",
                         ok ? "true" : "false", TL_PROTOCOL, files, (unsigned long long)total, written - t0, name);
    if (ok) {
      len = appendf(line, len, sizeof line, "%s}\n", answer + 3);
    } else {
      char code[64] = "failed";
      const char *rest = answer;
      if (strncmp(answer, "fail ", 5) == 0) {
        sscanf(answer + 5, "%63s", code);
        rest = answer + 5 + strlen(code);
        while (*rest == ' ') rest++;
      }
      len = appendf(line, len, sizeof line, "\"code\":\"%s\",%s}\n", code, rest);
    }
    emit(line, len);
    return ok ? 0 : 1;
  }
}
