/* Small I/O and formatting helpers shared by both modes. */
#ifndef TL_UTIL_H
#define TL_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads exactly n bytes; returns n, or fewer on EOF, or -1 on error. */
ssize_t read_full(int fd, void *buf, size_t n);
/* Writes all n bytes (retrying on EINTR/short writes); 0 or -1. */
int write_all(int fd, const void *buf, size_t n);
/* Monotonic milliseconds (fractional). */
double now_ms(void);
/* Appends s to out as a JSON string (with quotes), never writing past cap; returns new length. */
size_t json_str(char *out, size_t len, size_t cap, const char *s, size_t n);
/* Appends printf-formatted text, never writing past cap; returns new length. */
size_t appendf(char *out, size_t len, size_t cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The control socket's path (TIGHTLOOP_AGENT_RUN_DIR or TL_RUN_DIR). */
const char *socket_path(void);
const char *run_dir(void);
/* Logs "[tightloop-agent] ..." to stderr. */
void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif
