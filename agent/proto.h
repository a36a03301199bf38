/*
 * The wire format between Tightloop and the agent (src/engine/live/protocol.ts is the other side).
 *
 * stdin (sender -> `agent receive`), integers big-endian:
 *   preamble  "TLSY" u16 protocol
 *   file      'F' u16 pathLen, path, u32 mode, u64 size, sha256[32], size bytes
 *   apply     'A' u8 action (0 none, 1 restart, 2 signal), u8 signal, u32 listenWaitMs
 * stdout (agent -> sender): one JSON object per line, "hello" first, "done" last. The sender trusts
 * "done", never EOF or the exit status: containerd cuts stdin when the exec'd process closes
 * stdout/stderr, and a status can be lost, so the agent keeps both open until it has answered.
 *
 * control socket (`agent receive` -> the PID-1 `agent run`), one text line each way:
 *   "hello"                -> "targets <n>\n" then n lines, one target path each
 *   "restart <listenMs>"   -> one JSON fragment line (pid, restartMs, listenMs, ports | exitCode, tail)
 *   "signal <n>" / "none"  -> one JSON fragment line
 */
#ifndef TL_PROTO_H
#define TL_PROTO_H

#define TL_PROTOCOL 1
#define TL_AGENT_VERSION "0.1.0"
#define TL_MAGIC "TLSY"
#define TL_FRAME_FILE 'F'
#define TL_FRAME_APPLY 'A'
#define TL_ACTION_NONE 0
#define TL_ACTION_RESTART 1
#define TL_ACTION_SIGNAL 2
#define TL_MAX_PATH 4096
#define TL_MAX_TARGETS 64
#define TL_MAX_FILES 4096
/* Default folder of the control socket; TIGHTLOOP_AGENT_RUN_DIR overrides it (tests, local runs). */
#define TL_RUN_DIR "/.tightloop/run"
#define TL_SOCKET_NAME "agent.sock"

#endif
