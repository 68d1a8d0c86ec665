/*
 * sync_search_norm: the text normalisation in front of the search index
 * (sync_search_db.h), the same for indexed text and for queries.
 *
 * Steps: invalid UTF-8 bytes become spaces; case folding with NFKD
 * (libunistring u8_casefold: "É" -> "e" + U+0301, "ß" -> "ss", fullwidth
 * "ＡＢＣ" -> "abc", ligatures "ﬁ" -> "fi"); every combining mark removed
 * except the kana voicing marks U+3099/U+309A (so "é" matches "e" but "が"
 * stays apart from "か"); NFC again (Hangul syllables, decomposed by NFKD,
 * are recomposed). Then words: a run of letters, digits or marks is one
 * token; a run of CJK characters (Han, Hiragana, Katakana, Hangul, which
 * need not be separated by spaces) becomes its overlapping bigrams plus
 * its last character alone ("東京都" -> "東京 京都 都"; a run of one
 * character is that character). Everything else separates tokens
 * (private-use characters too: the index keeps them for its own tokens,
 * sync_search_db.h). The
 * output is the tokens separated by single spaces, which SQLite FTS5's
 * unicode61 tokenizer (remove_diacritics 0: done here) splits again.
 *
 * Queries (sync_search_norm_query) become an FTS5 expression where every
 * term must match (AND):
 *   - a word of 3 or more characters matches as a prefix ("mess" finds
 *     "message"): the substrings of words we support are word prefixes; a
 *     shorter word matches whole words only (a one-letter prefix would
 *     merge the posting lists of most of the vocabulary);
 *   - a CJK run of two or more characters is the phrase of its bigrams,
 *     so it matches that exact character sequence anywhere in a text,
 *     also inside a longer run (any substring of 2+ characters);
 *   - a single CJK character matches as a prefix of the tokens, which
 *     finds it anywhere (every character starts a bigram or is the final
 *     unigram of its run).
 * Infixes of Latin words ("ssag" in "message") are not found: FTS5's
 * trigram tokenizer would find them, but on SQLite 3.40 (Debian 12) it
 * neither removes accents nor finds 2-character CJK queries, so one table
 * of our own tokens serves every language.
 *
 * Ownership: out is the caller's; text appended, NUL-terminated (the NUL
 * not counted in out->len).
 * Errors: 0, -ENOMEM; the query builder CF_EBADREQ when no term is left.
 * Threads: any; no shared state.
 */
#ifndef SYNC_SEARCH_NORM_H
#define SYNC_SEARCH_NORM_H

#include <stddef.h>

#include "common/cf_buf.h"

/* At most this many terms of a query are used (the rest is ignored). */
#define SYNC_SEARCH_TERMS_MAX 32

/* Append the normalised tokens of s[0..len) to out. */
int sync_search_norm_text(const char *s, size_t len, struct cf_buf *out);

/*
 * Append the FTS5 MATCH expression of the query s[0..len) to out
 * ("\"hello\"* \"東京 京都\""); *terms (may be NULL) gets the number of
 * terms. CF_EBADREQ if the query has no term.
 */
int sync_search_norm_query(const char *s, size_t len, struct cf_buf *out,
			   unsigned *terms);

#endif
