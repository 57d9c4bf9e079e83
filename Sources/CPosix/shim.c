#define _GNU_SOURCE 1
#include "CPosix.h"
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

int cposix_signal_ignored(int sig) {
    struct sigaction old;
    if (sigaction(sig, NULL, &old) != 0) return 0;
    return old.sa_handler == SIG_IGN ? 1 : 0;
}

int cposix_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int cposix_spawn_closefrom(posix_spawn_file_actions_t *actions, int low) {
    return posix_spawn_file_actions_addclosefrom_np(actions, low);
}
