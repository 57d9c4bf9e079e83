#ifndef CNCURSES_H
#define CNCURSES_H
// ncursesw with wide-character support. Only TerminalUI's NCursesBackend uses this module.
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <ncursesw/curses.h>
#include <locale.h>
#include <wchar.h>

/// stdscr is a macro-ish global in some builds; expose it as a function.
WINDOW *cnc_stdscr(void);
/// COLORS / COLOR_PAIRS are macros in some builds.
int cnc_colors(void);
int cnc_color_pairs(void);
/// COLOR_PAIR(n) is a macro.
int cnc_color_pair(int n);

/// Calls setlocale(LC_ALL, "") and returns nl_langinfo(CODESET) (never NULL). Not a curses call.
const char *cnc_locale_codeset(void);

/// 1 when terminfo has an entry for `term` (setupterm finds it), 0 otherwise; leaves no terminal state behind.
int cnc_terminal_known(const char *term);

/// Starts curses on the controlling terminal with newterm (never exits the process, unlike initscr):
/// cbreak, noecho, keypad, set_escdelay(25), curs_set(0), start_color + use_default_colors when available.
/// Returns 0 on success, -1 when the terminal cannot be initialised. `*colors` receives COLORS (0 without colour),
/// `*pairs` receives COLOR_PAIRS.
int cnc_start(int *colors, int *pairs);
/// Like cnc_start, but on the given terminal type (NULL = $TERM) and file descriptors (negative = stdin/stdout),
/// e.g. a pseudo-terminal in tests.
int cnc_start_on(const char *term, int in_fd, int out_fd, int *colors, int *pairs);
/// 1 while curses is active (between cnc_start and cnc_end).
int cnc_is_active(void);
/// endwin if active; idempotent and safe to call from atexit.
void cnc_end(void);
/// Installs atexit and fatal-signal handlers (SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, and SIGINT when
/// include_sigint != 0) that restore the terminal and then re-raise the signal with its default action. Idempotent.
void cnc_install_restore_handlers(int include_sigint);
/// Leaves curses mode, stops the process (SIGSTOP), and on SIGCONT re-enters curses mode with a full repaint.
void cnc_suspend(void);

/// Terminal size in cells.
void cnc_size(int *rows, int *cols);
/// Defines an extended colour pair (colours: -1 default, 0..255 palette, or 24-bit direct values).
int cnc_init_pair(int pair, int fg, int bg);
/// Attribute flag bits for cnc_put.
enum { CNC_BOLD = 1, CNC_DIM = 2, CNC_REVERSE = 4, CNC_UNDERLINE = 8 };
/// Writes one grapheme (up to CCHARW_MAX wide chars, NUL-terminated) at (y, x) with attribute flags and an extended pair.
int cnc_put(int y, int x, const wchar_t *wcs, int flags, int pair);
/// Copies the virtual screen to the terminal (doupdate).
void cnc_flush(void);
/// Forces the next flush to repaint the whole screen (after Ctrl-L, resume, or corruption).
void cnc_clear_screen(void);
/// Waits up to timeout_ms (negative = forever) for input. Returns 0 for a character (in *ch), 1 for a key code
/// (KEY_* in *ch), -1 on timeout or error.
int cnc_read(int timeout_ms, unsigned int *ch);
/// Opens a pseudo-terminal pair (for tests that drive curses); returns 0 and both descriptors, or -1. Not a curses call.
int cnc_open_pty(int *master_fd, int *slave_fd);
/// 1 when the terminal on fd has hung up or failed (POLLHUP, POLLERR, POLLNVAL); 0 otherwise. Does not read.
int cnc_input_lost(int fd);
#endif
