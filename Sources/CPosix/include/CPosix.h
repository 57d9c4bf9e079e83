#ifndef CPOSIX_H
#define CPOSIX_H
#include <spawn.h>

/// 1 when the signal's disposition is SIG_IGN now (e.g. SIGHUP under nohup), 0 otherwise.
int cposix_signal_ignored(int sig);
/// pipe2(fds, O_CLOEXEC): both ends close-on-exec. Returns 0 or -1 with errno.
int cposix_pipe_cloexec(int fds[2]);
/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+): the child closes every descriptor >= low.
int cposix_spawn_closefrom(posix_spawn_file_actions_t *actions, int low);
/// Installs one handler (SA_RESTART) for each of the `count` signals in `sigs`; the handler only writes the signal's
/// number as one byte to a close-on-exec pipe. Returns the pipe's read end (blocking), or -1 with errno.
/// Whatever thread the kernel picks to take a signal, the program reads it from the pipe on a thread of its own.
int cposix_signal_pipe(const int *sigs, int count);
#endif
