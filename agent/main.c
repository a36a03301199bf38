/*
 * The Tightloop agent: a static binary placed at /.tightloop/agent in images built in live mode.
 *   agent run [--target PATH]... [--grace MS] -- CMD...   PID 1: supervise CMD (supervise.c)
 *   agent receive                                        exec'd per live update (receive.c)
 *   agent version                                        {"protocol":N,"agent":"x.y.z"}
 */
#include "proto.h"
#include "receive.h"
#include "supervise.h"
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "run") == 0) return supervise_main(argc - 2, argv + 2);
  if (argc == 2 && strcmp(argv[1], "receive") == 0) return receive_main();
  if (argc == 2 && strcmp(argv[1], "version") == 0) {
    printf("{\"protocol\":%d,\"agent\":\"%s\"}\n", TL_PROTOCOL, TL_AGENT_VERSION);
    return 0;
  }
  fprintf(stderr, "usage: agent run [--target PATH]... [--grace MS] -- CMD [ARG]...\n       agent receive\n       agent version\n");
  return 2;
}
