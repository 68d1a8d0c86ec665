#include "config.h"

/* bench_words: see bench_words.h. */

#include <math.h>
#include <string.h>

#include "bench/bench_words.h"

static const char cons[] = "bdfghkmnprstvwyz"; /* 16 */
static const char vows[] = "aeiou";	       /* 5 (16 x 5 > 60) */

/* 200 common Han characters (UTF-8, 3 bytes each). */
static const char han[] =
	"的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下"
	"以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作"
	"当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分"
	"将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定"
	"女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平"
	"真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比";

uint64_t bench_rand(uint64_t *rng)
{
	uint64_t x = *rng != 0 ? *rng : 0x9e3779b97f4a7c15ull;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*rng = x;
	return x;
}

size_t bench_word(uint32_t r, char out[BENCH_WORD_MAX])
{
	char rev[BENCH_WORD_MAX];
	uint64_t n = (uint64_t)r + 60;
	size_t len = 0, i;

	while (n > 0 && len + 2 < BENCH_WORD_MAX) {
		unsigned d = (unsigned)(n % 60);

		rev[len++] = vows[d % 5];
		rev[len++] = cons[d / 5];
		n /= 60;
	}
	for (i = 0; i < len; i++)
		out[i] = rev[len - 1 - i];
	out[len] = '\0';
	return len;
}

uint32_t bench_zipf_rank(uint64_t *rng)
{
	double u = (double)(bench_rand(rng) >> 11) / 9007199254740992.0;
	double v = exp(u * log((double)BENCH_WORDS_VOCAB + 1.0));
	uint32_t r = (uint32_t)v;

	r = r > 0 ? r - 1 : 0;
	return r < BENCH_WORDS_VOCAB ? r : BENCH_WORDS_VOCAB - 1;
}

/* Append s (n bytes) if it fits with the NUL. */
static void put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + n + 1 > cap)
		return;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
}

size_t bench_text(uint64_t *rng, char *out, size_t cap)
{
	unsigned words = 4 + (unsigned)(bench_rand(rng) % 11), i;
	char w[BENCH_WORD_MAX];
	size_t len = 0;

	if (cap == 0)
		return 0;
	out[0] = '\0';
	for (i = 0; i < words; i++) {
		size_t n = bench_word(bench_zipf_rank(rng), w);
		char *e = memchr(w, 'e', n);

		if (i > 0)
			put(out, cap, &len, " ", 1);
		if (i == 0)
			w[0] = (char)(w[0] - 'a' + 'A');
		if (e != NULL && bench_rand(rng) % 20 == 0) {
			put(out, cap, &len, w, (size_t)(e - w));
			put(out, cap, &len, "\xc3\xa9", 2); /* é */
			put(out, cap, &len, e + 1, n - (size_t)(e - w) - 1);
		} else {
			put(out, cap, &len, w, n);
		}
	}
	if (bench_rand(rng) % 8 == 0) {
		unsigned k = 4 + (unsigned)(bench_rand(rng) % 5);

		put(out, cap, &len, " ", 1);
		for (i = 0; i < k; i++) {
			size_t at = 3 * (size_t)(bench_rand(rng) %
						 ((sizeof han - 1) / 3));

			put(out, cap, &len, han + at, 3);
		}
	}
	return len;
}
