/*
 * `agent run [--target PATH]... [--grace MS] -- CMD [ARG]...`: the container's PID 1.
 *
 * Runs CMD as its child (own process group), forwards every signal to it, reaps every zombie
 * (orphans are reparented to PID 1, or to us as a subreaper when we are not PID 1), copies the
 * child's output to its own stdout/stderr while keeping the last lines, and serves the control
 * socket that `agent receive` uses after a sync: restart the child (TERM, grace, KILL, same
 * argv/env) and report when it listens, signal it, or just record that content changed.
 * Once a live update happened, the container stays up when the child exits so the next sync can
 * fix it; before that, the child's exit ends the container as it would without the agent.
 */
#define _GNU_SOURCE
#include "supervise.h"
#include "proto.h"
#include "util.h"
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_OUTPUTS 32
#define MAX_CLIENTS 8
#define TAIL_BYTES 8192
#define TAIL_LINES 20
#define LISTEN_POLL_MS 2
/* Every how many polls the whole process group is scanned (the leader's sockets every poll). */
#define GROUP_SCAN_EVERY 8

enum phase { IDLE, STOPPING, WAIT_LISTEN };

static char **child_argv;
static const char *targets[TL_MAX_TARGETS];
static int ntargets;
static int grace_ms = 5000;

static pid_t child;          /* 0 when no child runs */
static int last_status = -1; /* wait status of the last child that ended */
static int stopping;         /* a terminating signal arrived: exit when the child does */
static int synced;           /* a live update happened since start */

static struct { int fd; int dest; } outputs[MAX_OUTPUTS];
static int noutputs;
static char tail[TAIL_BYTES];
static size_t tail_len;

static struct client { int fd; char buf[256]; size_t len; } clients[MAX_CLIENTS];

static struct {
  enum phase phase;
  int fd;            /* client waiting for the answer (-1: gone) */
  int listen_wait;   /* ms */
  double started, kill_at, spawned, deadline;
  pid_t old_pgid;
} op = {IDLE, -1, 0, 0, 0, 0, 0, 0};

static void tail_add(const char *p, size_t n) {
  if (n >= TAIL_BYTES) { p += n - TAIL_BYTES; n = TAIL_BYTES; }
  if (tail_len + n > TAIL_BYTES) {
    size_t drop = tail_len + n - TAIL_BYTES;
    memmove(tail, tail + drop, tail_len - drop);
    tail_len -= drop;
  }
  memcpy(tail + tail_len, p, n);
  tail_len += n;
}

/* Appends "tail":[last lines] to out. */
static size_t tail_json(char *out, size_t len, size_t cap) {
  size_t end = tail_len;
  while (end > 0 && tail[end - 1] == '\n') end--;
  size_t start = end;
  int lines = 0;
  while (start > 0 && lines < TAIL_LINES) {
    start--;
    if (tail[start] == '\n' && ++lines == TAIL_LINES) { start++; break; }
  }
  if (start > 0 && tail[start - 1] != '\n') { /* first line was cut by the ring: skip it */
    while (start < end && tail[start] != '\n') start++;
    if (start < end) start++;
  }
  len = appendf(out, len, cap, "\"tail\":[");
  int first = 1;
  for (size_t i = start; i < end;) {
    size_t j = i;
    while (j < end && tail[j] != '\n') j++;
    if (!first) len = appendf(out, len, cap, ",");
    len = json_str(out, len, cap, tail + i, j - i);
    first = 0;
    i = j + 1;
  }
  return appendf(out, len, cap, "]");
}

static void drain_output(int i) {
  char buf[65536];
  for (;;) {
    ssize_t r = read(outputs[i].fd, buf, sizeof buf);
    if (r > 0) {
      (void)write_all(outputs[i].dest, buf, (size_t)r);
      tail_add(buf, (size_t)r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return;
    close(outputs[i].fd); /* EOF or error: nobody writes this pipe any more */
    outputs[i] = outputs[--noutputs];
    return;
  }
}

static void drain_all(void) {
  for (int i = noutputs - 1; i >= 0; i--) drain_output(i);
}

static int spawn_child(void) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) < 0) return -1;
  if (pipe2(err, O_CLOEXEC) < 0) { close(out[0]); close(out[1]); return -1; }
  pid_t pid = fork();
  if (pid < 0) { close(out[0]); close(out[1]); close(err[0]); close(err[1]); return -1; }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    setpgid(0, 0);
    sigprocmask(SIG_SETMASK, &none, NULL);
    dup2(out[1], 1);
    dup2(err[1], 2);
    execvp(child_argv[0], child_argv);
    dprintf(2, "[tightloop-agent] cannot run %s: %s\n", child_argv[0], strerror(errno));
    _exit(127);
  }
  setpgid(pid, pid); /* also here: whichever runs first, the group exists before we signal it */
  close(out[1]);
  close(err[1]);
  int fds[2] = {out[0], err[0]};
  for (int k = 0; k < 2; k++) {
    fcntl(fds[k], F_SETFL, O_NONBLOCK);
    if (noutputs < MAX_OUTPUTS) { outputs[noutputs].fd = fds[k]; outputs[noutputs].dest = k + 1; noutputs++; }
    else close(fds[k]);
  }
  child = pid;
  tail_len = 0; /* "last output lines" belong to the child now running */
  return 0;
}

static int proc_pgrp(const char *pid) {
  char path[300], buf[512];
  snprintf(path, sizeof path, "/proc/%s/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
  int pgrp;
  if (!p || sscanf(p + 1, " %*c %*d %d", &pgrp) != 1) return -1;
  return pgrp;
}

/* Adds the socket inodes among /proc/PID/fd to inodes. */
static int socket_inodes(const char *pid, unsigned long *inodes, int ninodes, int max) {
  char fddir[300];
  snprintf(fddir, sizeof fddir, "/proc/%s/fd", pid);
  DIR *fds = opendir(fddir);
  if (!fds) return ninodes;
  struct dirent *f;
  while ((f = readdir(fds)) && ninodes < max) {
    char link[600], target[64];
    snprintf(link, sizeof link, "%s/%s", fddir, f->d_name);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = 0;
    unsigned long inode;
    if (sscanf(target, "socket:[%lu]", &inode) == 1) inodes[ninodes++] = inode;
  }
  closedir(fds);
  return ninodes;
}

/*
 * Ports on which the process group pgid listens (TCP, v4 and v6); returns how many. The leader
 * (the child itself, which most servers listen in) is always looked at; the rest of the group
 * only when `whole_group`, as that means reading every process's stat in /proc.
 */
static int listening_ports(pid_t pgid, int *ports, int max, int whole_group) {
  unsigned long inodes[256];
  int ninodes = 0;
  char leader[32];
  snprintf(leader, sizeof leader, "%d", (int)pgid);
  ninodes = socket_inodes(leader, inodes, ninodes, 256);
  DIR *proc = whole_group ? opendir("/proc") : NULL;
  struct dirent *e;
  while (proc && (e = readdir(proc)) && ninodes < 256) {
    if (!isdigit((unsigned char)e->d_name[0]) || strcmp(e->d_name, leader) == 0 || proc_pgrp(e->d_name) != pgid) continue;
    ninodes = socket_inodes(e->d_name, inodes, ninodes, 256);
  }
  if (proc) closedir(proc);
  if (ninodes == 0) return 0;
  int nports = 0;
  const char *tables[2] = {"/proc/net/tcp", "/proc/net/tcp6"};
  for (int t = 0; t < 2; t++) {
    FILE *f = fopen(tables[t], "re");
    if (!f) continue;
    char line[512];
    if (!fgets(line, sizeof line, f)) { fclose(f); continue; } /* header */
    while (fgets(line, sizeof line, f)) {
      unsigned port, st;
      unsigned long inode;
      if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu", &port, &st, &inode) != 3) continue;
      if (st != 0x0A) continue; /* TCP_LISTEN */
      for (int i = 0; i < ninodes; i++) {
        if (inodes[i] != inode) continue;
        int dup = 0;
        for (int k = 0; k < nports; k++) dup |= ports[k] == (int)port;
        if (!dup && nports < max) ports[nports++] = (int)port;
      }
    }
    fclose(f);
  }
  return nports;
}

static void reply(const char *line) {
  if (op.fd >= 0) {
    (void)send(op.fd, line, strlen(line), MSG_NOSIGNAL);
  }
  op.phase = IDLE;
  op.fd = -1;
}

static size_t exit_json(char *out, size_t len, size_t cap, int status) {
  if (WIFSIGNALED(status)) return appendf(out, len, cap, "\"signal\":%d,", WTERMSIG(status));
  return appendf(out, len, cap, "\"exitCode\":%d,", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void child_failed_reply(pid_t pid) {
  char line[TAIL_BYTES * 2 + 256];
  size_t len = appendf(line, 0, sizeof line, "fail child-exited \"pid\":%d,", (int)pid);
  len = exit_json(line, len, sizeof line, last_status);
  len = tail_json(line, len, sizeof line);
  appendf(line, len, sizeof line, "\n");
  reply(line);
}

static int exit_code(int status) {
  if (status < 0) return 0;
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static void cleanup_and_exit(int code) {
  drain_all();
  unlink(socket_path());
  exit(code);
}

static void start_restart(void);

static void on_child_exit(pid_t pid, int status) {
  last_status = status;
  child = 0;
  drain_all();
  if (stopping) cleanup_and_exit(exit_code(status));
  if (op.phase == STOPPING) {
    if (op.old_pgid > 0) kill(-op.old_pgid, SIGKILL); /* leftovers of the old group must not keep ports or files */
    if (spawn_child() < 0) {
      char line[256];
      snprintf(line, sizeof line, "fail spawn \"message\":\"fork failed: %s\"\n", strerror(errno));
      reply(line);
      return;
    }
    op.spawned = now_ms();
    if (op.listen_wait <= 0) {
      char line[128];
      snprintf(line, sizeof line, "ok \"pid\":%d,\"restartMs\":%.1f\n", (int)child, op.spawned - op.started);
      reply(line);
    } else {
      op.phase = WAIT_LISTEN;
      op.deadline = op.spawned + op.listen_wait;
    }
    return;
  }
  if (op.phase == WAIT_LISTEN) {
    child_failed_reply(pid);
    logf_("child %d exited (status %d) after a restart; waiting for the next live update", (int)pid, exit_code(status));
    return;
  }
  if (synced) {
    logf_("child %d exited with %d; the container stays up for the next live update", (int)pid, exit_code(status));
    return;
  }
  cleanup_and_exit(exit_code(status));
}

static void reap(void) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (pid == child) on_child_exit(pid, status);
  }
}

static void start_restart(void) {
  op.started = now_ms();
  if (child) {
    op.phase = STOPPING;
    op.old_pgid = child;
    op.kill_at = op.started + grace_ms;
    kill(child, SIGTERM);
  } else {
    op.phase = STOPPING;
    op.old_pgid = 0;
    on_child_exit(0, last_status); /* nothing to stop: start at once */
  }
}

static void check_listen(void) {
  static unsigned polls;
  int ports[16];
  int n = listening_ports(child, ports, 16, ++polls % GROUP_SCAN_EVERY == 0);
  double now = now_ms();
  if (n > 0 || now >= op.deadline) {
    char line[512];
    size_t len = appendf(line, 0, sizeof line, "ok \"pid\":%d,\"restartMs\":%.1f,", (int)child, op.spawned - op.started);
    if (n > 0) {
      len = appendf(line, len, sizeof line, "\"listenMs\":%.1f,\"ports\":[", now - op.spawned);
      for (int i = 0; i < n; i++) len = appendf(line, len, sizeof line, "%s%d", i ? "," : "", ports[i]);
      len = appendf(line, len, sizeof line, "]");
    } else {
      len = appendf(line, len, sizeof line, "\"notListeningAfterMs\":%d", op.listen_wait);
    }
    appendf(line, len, sizeof line, "\n");
    reply(line);
  }
}

static void command(struct client *c, char *line) {
  char out[1024];
  if (strcmp(line, "hello") == 0) {
    size_t len = appendf(out, 0, sizeof out, "targets %d\n", ntargets);
    (void)send(c->fd, out, len, MSG_NOSIGNAL);
    for (int i = 0; i < ntargets; i++) {
      len = appendf(out, 0, sizeof out, "%s\n", targets[i]);
      (void)send(c->fd, out, len, MSG_NOSIGNAL);
    }
    return;
  }
  if (op.phase != IDLE) {
    const char *busy = "fail busy \"message\":\"another live update is still restarting the process\"\n";
    (void)send(c->fd, busy, strlen(busy), MSG_NOSIGNAL);
    return;
  }
  synced = 1;
  int n;
  if (sscanf(line, "restart %d", &n) == 1) {
    op.fd = c->fd;
    op.listen_wait = n;
    start_restart();
    return;
  }
  size_t len;
  if (sscanf(line, "signal %d", &n) == 1) {
    if (!child) {
      op.fd = c->fd;
      child_failed_reply(0);
      return;
    }
    kill(child, n);
    len = appendf(out, 0, sizeof out, "ok \"pid\":%d,\"signal\":%d\n", (int)child, n);
  } else if (strcmp(line, "none") == 0) {
    len = appendf(out, 0, sizeof out, "ok \"pid\":%d\n", (int)child);
  } else {
    len = appendf(out, 0, sizeof out, "fail protocol \"message\":\"unknown control command\"\n");
  }
  (void)send(c->fd, out, len, MSG_NOSIGNAL);
}

static void client_readable(struct client *c) {
  ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
  if (r <= 0) {
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (op.fd == c->fd) op.fd = -1; /* the restart goes on; nobody waits for its answer */
    close(c->fd);
    c->fd = -1;
    return;
  }
  c->len += (size_t)r;
  char *nl;
  while ((nl = memchr(c->buf, '\n', c->len))) {
    *nl = 0;
    command(c, c->buf);
    size_t used = (size_t)(nl - c->buf) + 1;
    memmove(c->buf, nl + 1, c->len - used);
    c->len -= used;
  }
  if (c->len == sizeof c->buf - 1) c->len = 0; /* an over-long line: drop it */
}

static int open_socket(void) {
  char dir[256];
  snprintf(dir, sizeof dir, "%s", run_dir());
  for (char *p = dir + 1; *p; p++) { /* mkdir -p */
    if (*p != '/') continue;
    *p = 0;
    mkdir(dir, 0755);
    *p = '/';
  }
  mkdir(dir, 0755);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path());
  unlink(addr.sun_path);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 8) < 0) { close(fd); return -1; }
  chmod(addr.sun_path, 0666); /* exec sessions may run as another user than PID 1 */
  return fd;
}

int supervise_main(int argc, char **argv) {
  int i = 0;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    if (strcmp(argv[i], "--target") == 0 && i + 1 < argc && ntargets < TL_MAX_TARGETS) targets[ntargets++] = argv[++i];
    else if (strcmp(argv[i], "--grace") == 0 && i + 1 < argc) grace_ms = atoi(argv[++i]);
    else { logf_("unknown option %s (usage: agent run [--target PATH]... [--grace MS] -- CMD [ARG]...)", argv[i]); return 2; }
  }
  if (i >= argc) { logf_("no command to run (usage: agent run [--target PATH]... [--grace MS] -- CMD [ARG]...)"); return 2; }
  child_argv = argv + i;
  for (int t = 0; t < ntargets; t++) {
    if (targets[t][0] != '/' || strchr(targets[t], '\n')) { logf_("sync target %s must be an absolute path", targets[t]); return 2; }
  }

  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  int sfd = signalfd(-1, &all, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) { logf_("signalfd: %s", strerror(errno)); return 1; }
  if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1); /* orphans come to us, as to PID 1 */
  int lfd = open_socket();
  if (lfd < 0) logf_("control socket %s: %s (live updates will fall back to a rollout)", socket_path(), strerror(errno));
  for (int c = 0; c < MAX_CLIENTS; c++) clients[c].fd = -1;
  if (spawn_child() < 0) { logf_("cannot start %s: %s", child_argv[0], strerror(errno)); return 1; }

  for (;;) {
    struct pollfd pfds[2 + MAX_OUTPUTS + MAX_CLIENTS];
    int n = 0;
    pfds[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    pfds[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
    int out_base = n;
    for (int k = 0; k < noutputs; k++) pfds[n++] = (struct pollfd){.fd = outputs[k].fd, .events = POLLIN};
    int cl_base = n;
    for (int k = 0; k < MAX_CLIENTS; k++) pfds[n++] = (struct pollfd){.fd = clients[k].fd, .events = POLLIN};
    int timeout = -1;
    double now = now_ms();
    if (op.phase == WAIT_LISTEN) timeout = LISTEN_POLL_MS;
    if (op.phase == STOPPING) timeout = op.kill_at > now ? (int)(op.kill_at - now) + 1 : 0;
    int ready = poll(pfds, (nfds_t)n, timeout);
    if (ready < 0 && errno != EINTR) { logf_("poll: %s", strerror(errno)); return 1; }

    if (pfds[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGCHLD) continue; /* reaped below, every time round */
        if (sig == SIGPIPE) continue;
        if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
          stopping = 1;
          if (!child) cleanup_and_exit(128 + sig);
        }
        if (child) kill(child, sig);
      }
    }
    /* outputs first, so the tail is complete when a child's exit is handled */
    for (int k = cl_base - 1; k >= out_base; k--) {
      if (pfds[k].revents) {
        for (int o = 0; o < noutputs; o++) if (outputs[o].fd == pfds[k].fd) { drain_output(o); break; }
      }
    }
    reap();
    if (pfds[1].revents & POLLIN) {
      int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (cfd >= 0) {
        int slot = -1;
        for (int k = 0; k < MAX_CLIENTS; k++) if (clients[k].fd < 0) { slot = k; break; }
        if (slot < 0) close(cfd);
        else { clients[slot].fd = cfd; clients[slot].len = 0; }
      }
    }
    for (int k = 0; k < MAX_CLIENTS; k++) {
      if (pfds[cl_base + k].fd >= 0 && pfds[cl_base + k].revents && clients[k].fd == pfds[cl_base + k].fd) client_readable(&clients[k]);
    }
    if (op.phase == STOPPING && child && now_ms() >= op.kill_at) {
      kill(-op.old_pgid, SIGKILL);
      op.kill_at = now_ms() + 1e9; /* the SIGCHLD finishes the restart */
    }
    if (op.phase == WAIT_LISTEN && child) check_listen();
  }
}
