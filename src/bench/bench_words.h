/*
 * bench_words: a synthetic vocabulary and message texts for benchmarks of
 * search (issue 13): tests/bench/gen_cluster -T writes stores whose texts
 * come from it, and confab-bench --search draws its query terms from the
 * same vocabulary, so that queries find what a real store would hold.
 *
 * Words: the word of rank r is r + 60 written in base 60, one syllable
 * (consonant + vowel) per digit: distinct ranks give distinct words of 2 to
 * 4 syllables ("kano", "retasu"). Texts: 4 to 14 words whose ranks follow
 * Zipf's law (s = 1) over BENCH_WORDS_VOCAB words, the first capitalised;
 * one text in 8 ends with a run of 4 to 8 common Han characters (no
 * spaces), one word in 20 carries an accent ("é" for its first "e").
 *
 * Ownership: the caller's buffers. Errors: none (output is truncated to
 * the buffer, always NUL-terminated). Threads: any; the random state is
 * the caller's.
 */
#ifndef CONFAB_BENCH_WORDS_H
#define CONFAB_BENCH_WORDS_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_WORDS_VOCAB 50000u
#define BENCH_WORD_MAX 16 /* bytes of the longest word, NUL included */

/* xorshift64 step of *rng (never 0). */
uint64_t bench_rand(uint64_t *rng);
/* The word of rank r (0 = most frequent) into out; its length. */
size_t bench_word(uint32_t r, char out[BENCH_WORD_MAX]);
/* A rank drawn by Zipf's law over the vocabulary. */
uint32_t bench_zipf_rank(uint64_t *rng);
/* A message text into out (cap bytes, NUL included); its length. */
size_t bench_text(uint64_t *rng, char *out, size_t cap);

#endif
