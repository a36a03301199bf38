#ifndef TL_SUPERVISE_H
#define TL_SUPERVISE_H
/* PID-1 mode: argv after "run". */
int supervise_main(int argc, char **argv);
#endif
