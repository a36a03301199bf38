/*
 * A tiny static HTTP server for the live-update tests (built with musl-gcc by helpers.ts).
 *   testsrv PORT [ADDR]  listens on 127.0.0.1:PORT (or ADDR, e.g. 0.0.0.0 in a pod, where the
 *                    kubelet's probes come from outside), one forked handler per connection
 *   GET /            "<version> <pid>\n"
 *   GET /slow        the same after 300 ms (a request in flight during a swap)
 *   GET /hups        how many SIGHUPs arrived
 *   GET /orphans     a child that forks 3 grandchildren and exits at once: they end as orphans,
 *                    zombies unless PID 1 reaps them
 * SIGTERM: stop accepting, finish in-flight requests, exit 0. A version starting with "crash"
 * prints two lines and exits 3 (a bad live update). The version is patched into the bytes of
 * `version` per variant, so each variant is a different binary.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

volatile char version[] = "TLVER:0123456789abcdef0123456789abcdef";
static volatile sig_atomic_t term, hups;

static void on_term(int s) { (void)s; term = 1; }
static void on_hup(int s) { (void)s; hups++; }

static void handle(int c) {
  char req[2048];
  size_t n = 0;
  while (n < sizeof req - 1) {
    ssize_t r = read(c, req + n, sizeof req - 1 - n);
    if (r <= 0) break;
    n += (size_t)r;
    req[n] = 0;
    if (strstr(req, "\r\n\r\n")) break;
  }
  req[n] = 0;
  char body[256];
  if (strncmp(req, "GET /slow", 9) == 0) {
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (strncmp(req, "GET /hups", 9) == 0) snprintf(body, sizeof body, "%d\n", (int)hups);
  else if (strncmp(req, "GET /orphans", 12) == 0) {
    pid_t p = fork();
    if (p == 0) {
      for (int i = 0; i < 3; i++) {
        if (fork() == 0) {
          struct timespec ts = {2, 0};
          nanosleep(&ts, NULL); /* outlive the parent long enough to be seen reparented, then exit */
          _exit(0);
        }
      }
      _exit(0);
    }
    waitpid(p, NULL, 0);
    snprintf(body, sizeof body, "ok\n");
  } else snprintf(body, sizeof body, "%s %d\n", (const char *)version + 6, (int)getppid());
  char resp[512];
  int len = snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(body), body);
  (void)!write(c, resp, (size_t)len);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *v = (const char *)version + 6;
  if (strncmp(v, "crash", 5) == 0) {
    printf("starting %s\n", v);
    printf("fatal: cannot start this version\n");
    return 3;
  }
  int port = argc > 1 ? atoi(argv[1]) : 8080;
  struct sigaction sa = {0};
  sa.sa_handler = on_term; /* no SA_RESTART: accept() returns EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = on_hup;
  sigaction(SIGHUP, &sa, NULL);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (argc > 2 && inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", argv[2]); return 2; }
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 128) < 0) { perror("listen"); return 1; }
  printf("version %s listening on %d\n", v, port);
  while (!term) {
    int c = accept(s, NULL, NULL);
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    if (c < 0) continue;
    if (hups) printf("got HUP (%d)\n", (int)hups);
    pid_t p = fork();
    if (p == 0) { close(s); handle(c); _exit(0); }
    close(c);
  }
  /* Connections already in the accept queue are in flight too: serve them before closing, or the
   * kernel resets them. */
  fcntl(s, F_SETFL, O_NONBLOCK);
  for (int c; (c = accept(s, NULL, NULL)) >= 0;) {
    if (fork() == 0) { close(s); handle(c); _exit(0); }
    close(c);
  }
  close(s);
  while (wait(NULL) > 0 || errno == EINTR) {} /* in-flight requests finish */
  printf("version %s stopped\n", v);
  return 0;
}
