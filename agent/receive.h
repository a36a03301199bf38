#ifndef TL_RECEIVE_H
#define TL_RECEIVE_H
/* Receive mode: framed files on stdin, answers on stdout (see proto.h). */
int receive_main(void);
#endif
