#include "util.h"
#include "proto.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

ssize_t read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r == 0) break;
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    got += (size_t)r;
  }
  return (ssize_t)got;
}

int write_all(int fd, const void *buf, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, (const char *)buf + done, n - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    done += (size_t)w;
  }
  return 0;
}

double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

size_t appendf(char *out, size_t len, size_t cap, const char *fmt, ...) {
  if (len >= cap) return len;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out + len, cap - len, fmt, ap);
  va_end(ap);
  if (n < 0) return len;
  return len + (size_t)n >= cap ? cap - 1 : len + (size_t)n;
}

size_t json_str(char *out, size_t len, size_t cap, const char *s, size_t n) {
  len = appendf(out, len, cap, "\"");
  for (size_t i = 0; i < n && len + 8 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') len = appendf(out, len, cap, "\\%c", c);
    else if (c == '\n') len = appendf(out, len, cap, "\\n");
    else if (c == '\t') len = appendf(out, len, cap, "\\t");
    else if (c < 0x20 || c == 0x7f) len = appendf(out, len, cap, "\\u%04x", c);
    else out[len++] = (char)c; /* UTF-8 passes through; invalid bytes are the reader's problem */
  }
  out[len < cap ? len : cap - 1] = 0;
  return appendf(out, len, cap, "\"");
}

const char *run_dir(void) {
  const char *d = getenv("TIGHTLOOP_AGENT_RUN_DIR");
  return d && *d ? d : TL_RUN_DIR;
}

const char *socket_path(void) {
  static char path[256];
  if (!path[0]) snprintf(path, sizeof path, "%s/%s", run_dir(), TL_SOCKET_NAME);
  return path;
}

void logf_(const char *fmt, ...) {
  char buf[1024];
  size_t n = appendf(buf, 0, sizeof buf, "[tightloop-agent] ");
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
  va_end(ap);
  if (k > 0) n = n + (size_t)k >= sizeof buf - 1 ? sizeof buf - 2 : n + (size_t)k;
  buf[n++] = '\n';
  (void)write_all(2, buf, n);
}
