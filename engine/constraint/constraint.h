/*
 * constraint.h — constrained decoding: a regular language over the bytes
 * of the generated text, enforced token by token.  (Public header: server/
 * and proto/ may include it.)
 *
 * Owns: the engine's own regex dialect (parser -> Thompson NFA -> lazily
 * built byte DFA), the token index of a tokenizer (a byte trie over every
 * token's text), the per-DFA-state token masks computed from that trie on
 * first use and cached for every later request, and the per-request
 * matcher.  PCRE2 cannot run incrementally over tokens; this can.
 *
 * Languages: everything else (JSON schemas, choices, tool-call formats)
 * is compiled to a regex in this dialect first (json_schema.h,
 * cons_regex_escape) — one automaton kind for every constraint.
 *
 * Regex dialect (UTF-8 pattern, the whole generated text must match; the
 * ECMAScript/PCRE subset that JSON-schema `pattern`s and TGI/vLLM regex
 * constraints use):
 *   literals (any UTF-8 code point), `.` (any code point but \n),
 *   classes `[a-z_]`, `[^"\\]`, with ranges over code points and the
 *   escapes below inside; escapes \d \D \w \W \s \S \n \r \t \f \v \0
 *   \xHH \uHHHH \u{H..} and any escaped punctuation (\. \\ \/ \" \- ...);
 *   groups `( )`, `(?: )`, `(?<name> )`; alternation `|`; quantifiers
 *   `* + ? {m} {m,} {m,n}` (a lazy `?` suffix is accepted: a language has
 *   no greediness); `^` at the very start and `$` at the very end are
 *   accepted and mean nothing more (matching is always whole-text).
 *   Details, as PCRE2 (UTF mode, no UCP) reads them unless said: \d \w \s
 *   are ASCII ([0-9], [A-Za-z0-9_], [\t\n\v\f\r ]); \v is VT (U+000B, as
 *   ECMAScript); \x{H..} and (?P<name> ) are accepted too; {,n} is {0,n};
 *   a `{` that does not start a quantifier is a literal, and so are `]`
 *   and `}` outside a class; `[]` and `[^]` are refused (write \]); \b in
 *   a class is backspace; negated classes and \D \W \S hold every valid
 *   code point outside the set (never a surrogate: the byte language is
 *   valid UTF-8 only).
 *   Refused with an error naming the construct and its offset:
 *   backreferences, lookaround, \b \B, possessive quantifiers, inline
 *   flags, Unicode properties \p{..}, anchors elsewhere (and \A \z \Z \G),
 *   atomic and comment groups, POSIX classes, octal escapes, \Q..\E, \c,
 *   unknown letter escapes, stacked quantifiers (a** — use a group),
 *   {m,n} with n < m or n > CONS_MAX_REPEAT, surrogate or > U+10FFFF code
 *   points, invalid UTF-8, groups nested deeper than 200, a pattern whose
 *   NFA would exceed CONS_MAX_NFA_STATES (the offset of the outermost
 *   repetition being expanded), and a pattern that matches no text at all
 *   ([^\s\S]).
 *
 * Tokens: a token's text is tok_token_bytes(id, skip_special=false).
 * Special (control) tokens are never allowed by the language except the
 * ids given as `eos_ids` (allowed only in an accepting state) — so a
 * constraint can never be satisfied by spelling "</s>" as text; tokens
 * with empty text are never allowed.
 *
 * Threads: a cons_grammar is immutable to its users and shared by every
 * request that uses it (reference counted); its lazy caches (DFA states,
 * transitions, masks) are filled under its own lock and read lock-free
 * once published, so the samplers of one engine step may use matchers of
 * the same grammar on several pool threads at once.  A cons_matcher is
 * one request's and used by one thread at a time.
 *
 * Memory: a grammar's DFA cache is bounded (CONS_MAX_DFA_STATES); when it
 * is full, further states are computed without being cached (slower,
 * never an error, never a failed request).  Cached masks are bounded too
 * (64 MiB per grammar, each in the smallest of bitset / allowed ids /
 * refused ids); past that, masks are recomputed at each use.  The token
 * index (the vocabulary's byte trie) is shared by the grammars a
 * cons_cache compiles for one tokenizer.
 */
#ifndef CTGI_CONSTRAINT_H
#define CTGI_CONSTRAINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "tokenizer/tokenizer.h"

#define CONS_MAX_REPEAT 1000
#define CONS_MAX_NFA_STATES 1000000
#define CONS_MAX_DFA_STATES 20000

typedef struct cons_grammar cons_grammar;
typedef struct cons_matcher cons_matcher;

/* Check a regex in the dialect above without a tokenizer (for request
 * validation).  false + err (CT_ERRLEN bytes: "regex: <what> at offset N"). */
bool cons_regex_check(const char *re, size_t len, char *err);

/* Compile re for tokenizer t (which must outlive the grammar's use; the
 * grammar only compares the pointer afterwards).  eos_ids
 * (n_eos, copied) are the ids that end generation; they are allowed only
 * in accepting states.  Refcount 1.  NULL + err for a regex the dialect
 * refuses or out of memory. */
cons_grammar *cons_compile(const char *re, size_t len, const tokenizer *t, const int32_t *eos_ids,
                           int n_eos, char *err);
cons_grammar *cons_grammar_ref(cons_grammar *g);
void cons_grammar_unref(cons_grammar *g); /* NULL is fine */

/* The tokenizer g was compiled for. */
const tokenizer *cons_grammar_tokenizer(const cons_grammar *g);

/* A matcher at the start of g's language (takes a reference on g).  NULL
 * when out of memory. */
cons_matcher *cons_matcher_new(cons_grammar *g);
void cons_matcher_free(cons_matcher *m); /* NULL is fine */
/* allow false: the eos ids are never allowed, not even in an accepting
 * state (a request with ignore_eos; it still ends when the text is
 * complete).  Default true. */
void cons_matcher_allow_eos(cons_matcher *m, bool allow);

/* Set logits[id] = -INFINITY for every id of [0, n_vocab) that may not
 * come next: a token whose whole text does not keep the text a prefix of
 * some string of the language, and the eos ids unless the text so far is
 * in the language.  Returns how many ids stay allowed (0: the vocabulary
 * cannot continue the text — the caller fails the request). */
int cons_mask_logits(cons_matcher *m, float *logits, int n_vocab);

/* Advance past token id (an id cons_mask_logits allowed).  false if id was
 * not allowed (the matcher is unchanged). */
bool cons_accept(cons_matcher *m, int32_t id);

/* The text so far is in the language. */
bool cons_is_accepting(const cons_matcher *m);
/* The text so far is in the language and no longer string of it exists:
 * generation is complete (the engine ends the request without sampling
 * the EOS token). */
bool cons_is_complete(const cons_matcher *m);

/* Append s[0, n) to *out as a regex matching exactly that text (every
 * metacharacter escaped).  false on allocation failure. */
bool cons_regex_escape(const char *s, size_t n, char **out, size_t *out_len, size_t *out_cap);

/* ---- a cache of compiled grammars, by (regex, tokenizer) ------------------- */

typedef struct cons_cache cons_cache;
cons_cache *cons_cache_new(int capacity); /* grammars kept, least recently used dropped */
void cons_cache_free(cons_cache *c);
/* The compiled grammar for re (cached, or compiled now and cached), with a
 * reference for the caller.  Thread-safe. */
cons_grammar *cons_cache_get(cons_cache *c, const char *re, size_t len, const tokenizer *t,
                             const int32_t *eos_ids, int n_eos, char *err);

#endif
