/* Compiled from Debian node-llhttp: see Makefile.am. */
#include "llhttp.c"
