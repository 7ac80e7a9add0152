/*
 * jsonout.h - what accruectl and accrue-check share to print JSON.
 */
#ifndef ACCRUE_JSONOUT_H
#define ACCRUE_JSONOUT_H

/*
 * Print str as a JSON string on stdout, quotes included. Texts should be
 * UTF-8, but a document that a parser rejects is worse than a replaced
 * character, so bytes that are not valid UTF-8 become U+FFFD.
 */
void jsonout_str(const char *str);

#endif
