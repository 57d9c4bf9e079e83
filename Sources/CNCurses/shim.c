#include "CNCurses.h"

WINDOW *cnc_stdscr(void) { return stdscr; }
int cnc_colors(void) { return COLORS; }
int cnc_color_pairs(void) { return COLOR_PAIRS; }
int cnc_color_pair(int n) { return (int)COLOR_PAIR(n); }
