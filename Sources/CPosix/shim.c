#define _GNU_SOURCE 1
#include "CPosix.h"
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <errno.h>

int cposix_signal_ignored(int sig) {
    struct sigaction old;
    if (sigaction(sig, NULL, &old) != 0) return 0;
    return old.sa_handler == SIG_IGN ? 1 : 0;
}

int cposix_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int cposix_spawn_closefrom(posix_spawn_file_actions_t *actions, int low) {
    return posix_spawn_file_actions_addclosefrom_np(actions, low);
}

static int cposix_signal_write_fd = -1;

static void cposix_on_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (cposix_signal_write_fd >= 0) (void)!write(cposix_signal_write_fd, &b, 1);
    errno = saved;
}

int cposix_signal_pipe(const int *sigs, int count) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    /* The write end never blocks the handler: a full pipe drops the byte (the program is then far behind anyway). */
    fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK);
    cposix_signal_write_fd = fds[1];
    struct sigaction sa;
    sa.sa_handler = cposix_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int i = 0; i < count; i++) {
        if (sigaction(sigs[i], &sa, NULL) != 0) return -1;
    }
    return fds[0];
}
