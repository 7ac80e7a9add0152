/*
 * check.c - the one pair of check counters of a test program (check.h).
 *
 * Kept out of the header so that every file of a test adds to the same
 * counts; with a static pair in the header each file would count alone, and
 * check_done() in main would not see a failure in another file.
 */
#include "check.h"

int check_failures;
int check_count;
