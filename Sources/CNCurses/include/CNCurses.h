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

/// stdscr is a macro-ish global in some builds; expose it as a function.
WINDOW *cnc_stdscr(void);
/// COLORS / COLOR_PAIRS are macros in some builds.
int cnc_colors(void);
int cnc_color_pairs(void);
/// COLOR_PAIR(n) is a macro.
int cnc_color_pair(int n);
#endif
