#define _XOPEN_SOURCE 700
#define _DEFAULT_SOURCE 1
#include "CNCurses.h"
#include <ncursesw/term.h>
#include <fcntl.h>
#include <langinfo.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <poll.h>

/* The stream curses draws on (stdout, or the one cnc_start_on opened). */
static FILE *cnc_out = NULL;

WINDOW *cnc_stdscr(void) { return stdscr; }
int cnc_colors(void) { return COLORS; }
int cnc_color_pairs(void) { return COLOR_PAIRS; }
int cnc_color_pair(int n) { return (int)COLOR_PAIR(n); }

const char *cnc_locale_codeset(void) {
    setlocale(LC_ALL, "");
    const char *c = nl_langinfo(CODESET);
    return c ? c : "";
}

int cnc_terminal_known(const char *term) {
    if (term == NULL || *term == '\0') return 0;
    int err = 0;
    TERMINAL *saved = cur_term;
    // a fresh terminfo entry for `term` (setupterm reads the database; it writes nothing), then dropped again
    if (setupterm((char *)term, 1, &err) != OK) { cur_term = saved; return 0; }
    TERMINAL *probe = cur_term;
    set_curterm(saved);
    del_curterm(probe);
    return 1;
}

static volatile sig_atomic_t cnc_active_flag = 0;
static SCREEN *cnc_screen = NULL;

int cnc_start(int *colors, int *pairs) { return cnc_start_on(NULL, -1, -1, colors, pairs); }

int cnc_start_on(const char *term, int in_fd, int out_fd, int *colors, int *pairs) {
    setlocale(LC_ALL, "");
    if (cnc_active_flag) { *colors = has_colors() ? COLORS : 0; *pairs = has_colors() ? COLOR_PAIRS : 0; return 0; }
    FILE *in = in_fd >= 0 ? fdopen(dup(in_fd), "r") : stdin;
    FILE *out = out_fd >= 0 ? fdopen(dup(out_fd), "w") : stdout;
    if (in == NULL || out == NULL) return -1;
    cnc_out = out;
    if (cnc_screen != NULL) { delscreen(cnc_screen); cnc_screen = NULL; }
    cnc_screen = newterm(term, out, in);
    if (cnc_screen == NULL) return -1;
    set_term(cnc_screen);
    cnc_active_flag = 1;
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    intrflush(stdscr, FALSE);
    set_escdelay(25);
    curs_set(0);
    leaveok(stdscr, TRUE);
    scrollok(stdscr, FALSE);
    *colors = 0; *pairs = 0;
    if (has_colors()) {
        start_color();
        use_default_colors();
        *colors = COLORS;
        *pairs = COLOR_PAIRS;
    }
    return 0;
}

int cnc_is_active(void) { return cnc_active_flag ? 1 : 0; }

static int cnc_put_out(int c) { return fputc(c, cnc_out != NULL ? cnc_out : stdout); }

/* A capability string, or NULL when the terminal lacks it. */
static const char *cnc_capability(const char *name) {
    char *s = tigetstr(name);
    return (s == NULL || s == (char *)-1 || s[0] == 0) ? NULL : s;
}

void cnc_end(void) {
    if (!cnc_active_flag) return;
    cnc_active_flag = 0;
    curs_set(1);
    /* Terminals with an alternate screen (smcup / rmcup) give the shell's screen back by themselves. Those without
       (vt100, linux, ...) would keep the last frame: clear it, so the prompt comes back on an empty screen. */
    int alternate = cnc_capability("rmcup") != NULL;
    endwin();
    const char *clear = cnc_capability("clear");
    if (!alternate && clear != NULL) tputs(clear, 1, cnc_put_out);
    fflush(NULL);
}

static void cnc_on_fatal(int sig) {
    cnc_end();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int cnc_handlers_installed = 0;

void cnc_install_restore_handlers(int include_sigint) {
    if (cnc_handlers_installed) return;
    cnc_handlers_installed = 1;
    atexit(cnc_end);
    /* Only the faults and SIGQUIT: SIGINT, SIGTERM, SIGHUP and SIGTSTP belong to the program's one signal owner. */
    (void)include_sigint;
    int sigs[] = { SIGQUIT, SIGABRT, SIGSEGV, SIGBUS };
    struct sigaction sa;
    sa.sa_handler = cnc_on_fatal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

int cnc_input_lost(int fd) {
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, 0) < 0) return 0;
    return (p.revents & (POLLHUP | POLLERR | POLLNVAL)) ? 1 : 0;
}

void cnc_suspend(void) {
    if (!cnc_active_flag) { kill(getpid(), SIGSTOP); return; }
    endwin();
    kill(getpid(), SIGSTOP);
    /* continued (SIGCONT): back into curses mode, repaint everything */
    clearok(curscr, TRUE);
    wnoutrefresh(stdscr);
    doupdate();
}

void cnc_size(int *rows, int *cols) {
    int r, c;
    getmaxyx(stdscr, r, c);
    *rows = r; *cols = c;
}

int cnc_init_pair(int pair, int fg, int bg) { return init_extended_pair(pair, fg, bg); }

int cnc_put(int y, int x, const wchar_t *wcs, int flags, int pair) {
    attr_t a = A_NORMAL;
    if (flags & CNC_BOLD) a |= A_BOLD;
    if (flags & CNC_DIM) a |= A_DIM;
    if (flags & CNC_REVERSE) a |= A_REVERSE;
    if (flags & CNC_UNDERLINE) a |= A_UNDERLINE;
    cchar_t c;
    int p = pair;
    if (setcchar(&c, wcs, a, 0, &p) == ERR) return ERR;
    return mvwadd_wch(stdscr, y, x, &c);
}

void cnc_flush(void) {
    wnoutrefresh(stdscr);
    doupdate();
}

void cnc_clear_screen(void) { clearok(curscr, TRUE); }

int cnc_read(int timeout_ms, unsigned int *ch) {
    wtimeout(stdscr, timeout_ms);
    wint_t w = 0;
    int r = wget_wch(stdscr, &w);
    *ch = (unsigned int)w;
    if (r == ERR) return -1;
    return r == KEY_CODE_YES ? 1 : 0;
}

int cnc_open_pty(int *master_fd, int *slave_fd) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0) return -1;
    if (grantpt(m) != 0 || unlockpt(m) != 0) { close(m); return -1; }
    const char *name = ptsname(m);
    if (name == NULL) { close(m); return -1; }
    int s = open(name, O_RDWR | O_NOCTTY);
    if (s < 0) { close(m); return -1; }
    *master_fd = m; *slave_fd = s;
    return 0;
}
