/*
 * constraint_internal.h — the pieces behind constraint.h (internal to
 * engine/constraint/; tests include it too).
 *
 * The pipeline, one module per stage:
 *   rx_parse.c    regex text -> syntax tree (rx_): the dialect, its errors
 *   rx_utf8.c     code-point sets (rx_set_) and their UTF-8 byte-range
 *                 sequences (rx_utf8_)
 *   nfa.c         tree -> Thompson NFA over bytes (nfa_), live states,
 *                 byte classes, epsilon closure and byte steps over sets
 *   dfa.c         the lazily built DFA (dfa_): subsets made on demand,
 *                 transitions memoised, published lock-free; cursors that
 *                 go on past the state cap
 *   token_index.c the byte trie over a vocabulary's token texts (ti_)
 *   mask.c        per-DFA-state token masks (mk_), cons_mask_logits
 *   constraint.c  grammar, matcher, cons_accept, cons_regex_check/escape
 *   cons_cache.c  the cache of compiled grammars
 *
 * Locking (one lock per grammar, dfa.mu): everything a DFA state holds
 * (its NFA set, its transitions, its mask) is written under mu and
 * published with a release store; readers that find a published value
 * with an acquire load use it without the lock.  Work that needs new
 * states or sets (an unknown transition, a mask's first computation, any
 * step past the state cap) runs under mu with the grammar's scratch.
 */
#ifndef CTGI_CONSTRAINT_INTERNAL_H
#define CTGI_CONSTRAINT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "constraint/constraint.h"

/* ---- syntax tree (rx_parse.c) ------------------------------------------------------ */

#define RX_MAX_DEPTH 200      /* nested groups / quantifiers */
#define RX_MAX_CODEPOINT 0x10FFFFu

typedef struct {
    uint32_t lo, hi; /* code points, inclusive */
} rx_range;

/* A set of code points: sorted, disjoint, non-adjacent ranges once
 * normalised.  Storage comes from the parse's arena. */
typedef struct {
    rx_range *r;
    int n, cap;
} rx_set;

typedef enum {
    RX_EMPTY, /* the empty string */
    RX_SET,   /* one code point of `set` (a literal is a set of one) */
    RX_CAT,   /* kids in sequence */
    RX_ALT,   /* one of the kids */
    RX_REP,   /* kids[0] repeated min..max times (max -1: no bound) */
} rx_kind;

typedef struct rx_node {
    rx_kind kind;
    int min, max;          /* RX_REP */
    size_t off;            /* where it starts in the pattern (errors) */
    rx_set set;            /* RX_SET */
    struct rx_node **kids; /* RX_CAT, RX_ALT, RX_REP */
    int n, cap;
} rx_node;

/* Bump allocator owning a whole parse (the tree is freed at once). */
typedef struct rx_block rx_block;
typedef struct {
    rx_block *head;
} rx_arena;

void *rx_alloc(rx_arena *a, size_t n); /* zeroed; NULL when out of memory */
void rx_arena_free(rx_arena *a);

/* Parse re[0, len) into a tree allocated from a.  NULL + err ("regex: <what>
 * at offset N") for a construct the dialect refuses or out of memory. */
rx_node *rx_parse(const char *re, size_t len, rx_arena *a, char *err);

/* ---- code-point sets and UTF-8 (rx_utf8.c) ---------------------------------------- */

bool rx_set_add(rx_arena *a, rx_set *s, uint32_t lo, uint32_t hi);
bool rx_set_add_set(rx_arena *a, rx_set *s, const rx_set *t);
void rx_set_normalize(rx_set *s); /* sort, merge overlapping and adjacent ranges */
/* Every valid code point (U+0000..U+10FFFF but the surrogates) not in s
 * (normalised), into out. */
bool rx_set_complement(rx_arena *a, const rx_set *s, rx_set *out);
/* s (normalised) minus the surrogates U+D800..U+DFFF, which UTF-8 never
 * encodes. */
bool rx_set_drop_surrogates(rx_arena *a, rx_set *s);

/* One UTF-8 byte-range sequence: a code point's encoding matches it when
 * byte k lies in [lo[k], hi[k]] for every k < len. */
typedef struct {
    uint8_t lo[4], hi[4];
    int len;
} rx_utf8_seq;

/* The sequences whose union is exactly the encodings of [lo, hi] (no
 * surrogates inside); emit is called once per sequence, in increasing
 * order.  Returns false as soon as emit does. */
bool rx_utf8_ranges(uint32_t lo, uint32_t hi, bool (*emit)(void *ud, const rx_utf8_seq *q), void *ud);
/* UTF-8 encoding of cp (<= 0x10FFFF) into b; returns its length. */
int rx_utf8_encode(uint32_t cp, uint8_t *b);
/* Decode one code point of s[0, n); its length, or 0 if invalid UTF-8
 * (overlong, surrogate, above U+10FFFF, truncated). */
int rx_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);

/* ---- NFA over bytes (nfa.c) ----------------------------------------------------------- */

enum { NFA_MATCH = 0, NFA_BYTE, NFA_SPLIT, NFA_EPS, NFA_FAIL };
#define NFA_MATCH_STATE 0 /* state 0 is the one MATCH state: sorted sets start with it */

typedef struct {
    uint8_t kind, lo, hi; /* NFA_BYTE: a byte in [lo, hi] goes to out */
    uint8_t live;         /* some path from here reaches MATCH */
    int32_t out, out1;    /* NFA_SPLIT: both; NFA_EPS: out */
} nfa_state;

typedef struct {
    nfa_state *st;
    int32_t n, cap;
    int32_t start;
    uint8_t cls[256];     /* byte -> class: bytes of one class are never told apart */
    uint8_t cls_rep[256]; /* class -> a byte of it */
    int n_cls;
} nfa;

/* Build the NFA of tree root (at most CONS_MAX_NFA_STATES states), mark the
 * live states and compute the byte classes.  false + err on the cap, an
 * empty language ("the pattern matches no text") or out of memory. */
bool nfa_build(const rx_node *root, nfa *out, char *err);
void nfa_free(nfa *a);

/* Scratch of closures and steps (one user at a time). */
typedef struct {
    uint32_t *mark; /* (nfa.n) generation that last added the state */
    uint32_t gen;
    int32_t *stack; /* (nfa.n) */
} nfa_scratch;

bool nfa_scratch_init(nfa_scratch *sc, const nfa *a);
void nfa_scratch_free(nfa_scratch *sc);
/* The live BYTE/MATCH states reachable by epsilon moves from s, sorted, into
 * out (room for nfa.n); returns how many. */
int32_t nfa_closure(const nfa *a, nfa_scratch *sc, int32_t s, int32_t *out);
/* The set after byte b from set[0, n) (sorted, live), into out (room for
 * nfa.n, not set); returns its size (0: dead). */
int32_t nfa_step(const nfa *a, nfa_scratch *sc, const int32_t *set, int32_t n, uint8_t b, int32_t *out);

/* ---- lazy DFA (dfa.c) ------------------------------------------------------------------- */

#define DFA_DEAD (-1)    /* no string continues from here */
#define DFA_UNKNOWN (-2) /* transition not computed yet */
#define DFA_FULL (-3)    /* a new state the full cache cannot hold (not memoised) */
#define DFA_CHUNK 256    /* states per allocation; chunks never move */

struct mk_mask;

typedef struct {
    int32_t *set;            /* sorted live BYTE/MATCH NFA states */
    int32_t n;
    bool accepting;          /* set holds MATCH: the text so far is in the language */
    bool complete;           /* set is MATCH alone: nothing can follow */
    _Atomic int32_t *next;   /* (n_cls) state id, DFA_DEAD or DFA_UNKNOWN */
    _Atomic(struct mk_mask *) mask; /* this state's token mask (mask.c), NULL until made */
} dfa_state;

typedef struct {
    nfa a;
    pthread_mutex_t mu;     /* the grammar's lock: state creation, masks, scratch */
    dfa_state **chunks;     /* (max_states / DFA_CHUNK rounded up); a chunk's transitions
                               are one block, chunks[c][0].next */
    int32_t n_states, max_states; /* under mu */
    int32_t *table;         /* open-addressing hash set -> id (-1 empty), under mu */
    uint32_t table_cap;
    nfa_scratch sc;         /* under mu */
    int32_t *buf;           /* (a.n) step output, under mu */
    size_t bytes;           /* memory held by states and table (stats) */
} dfa;

/* Parse + NFA + start state; max_states caps the cache (CONS_MAX_DFA_STATES
 * normally; tests lower it).  false + err. */
bool dfa_init(dfa *d, const char *re, size_t len, int32_t max_states, char *err);
void dfa_destroy(dfa *d); /* frees states; masks are freed by mask.c first */

static inline dfa_state *dfa_get(const dfa *d, int32_t id) {
    return &d->chunks[id / DFA_CHUNK][id % DFA_CHUNK];
}
/* The state after byte b from cached state s: an id, DFA_DEAD or DFA_FULL.
 * Lock-free when the transition is known; otherwise takes mu. */
int32_t dfa_next(dfa *d, int32_t s, uint8_t b);
/* The same with mu held by the caller. */
int32_t dfa_next_locked(dfa *d, int32_t s, uint8_t b);
/* The cached state whose set is set[0, n), or -1 (mu held). */
int32_t dfa_lookup(dfa *d, const int32_t *set, int32_t n);
int32_t dfa_n_states(dfa *d); /* takes mu */

/* A position in the DFA that may lie past the state cap: a cached state
 * (id >= 0) or, when id == DFA_FULL, the NFA set it stands for (owned). */
typedef struct {
    int32_t id;
    int32_t *set;
    int32_t n, cap;
} dfa_cursor;

void dfa_cursor_free(dfa_cursor *c);
/* to = from after byte b (mu held; from != to).  false when dead (to is then
 * unspecified) or out of memory (*oom set). */
bool dfa_cursor_step(dfa *d, const dfa_cursor *from, uint8_t b, dfa_cursor *to, bool *oom);
/* Copy (mu held when from->id is DFA_FULL or to may be read elsewhere). */
bool dfa_cursor_copy(dfa *d, const dfa_cursor *from, dfa_cursor *to);
bool dfa_cursor_accepting(const dfa *d, const dfa_cursor *c);
bool dfa_cursor_complete(const dfa *d, const dfa_cursor *c);

/* ---- token index (token_index.c) ------------------------------------------------------- */

/* One trie node, in preorder: the subtree of node i is [i, end).  The root
 * (empty text) is implicit; depth counts bytes from it (>= 1). */
typedef struct {
    uint32_t end;
    int32_t tok;    /* first of n_tok entries of ti_index.ids whose text ends here */
    uint16_t n_tok;
    uint16_t depth;
    uint8_t byte;
} ti_node;

typedef struct ti_index {
    atomic_int refs;
    const tokenizer *t;
    int32_t n_vocab;       /* tok_n_vocab(t) */
    int32_t *eos;          /* (n_eos) sorted, distinct, in [0, n_vocab) */
    int n_eos;
    uint8_t *text;         /* every token's bytes (tok_token_bytes, skip_special false) */
    uint32_t *off;         /* (n_vocab + 1) token id's text = text[off[id], off[id + 1]) */
    uint8_t *in_trie;      /* (n_vocab) 1: may be allowed by the language (not special,
                              not an eos id, non-empty text) */
    ti_node *nodes;
    uint32_t n_nodes;
    int32_t *ids;          /* the trie's tokens in node order */
    int32_t n_ids;
    int max_len;           /* longest text in the trie */
} ti_index;

/* Build the index of t; eos ids outside [0, n_vocab) are dropped.  Refcount
 * 1.  NULL + err. */
ti_index *ti_build(const tokenizer *t, const int32_t *eos, int n_eos, char *err);
ti_index *ti_ref(ti_index *ti);
void ti_unref(ti_index *ti);
bool ti_is_eos(const ti_index *ti, int32_t id);
/* Same tokenizer and the same eos set (as ti_build would keep it). */
bool ti_matches(const ti_index *ti, const tokenizer *t, const int32_t *eos, int n_eos);

/* ---- grammar and masks (constraint.c, mask.c) ---------------------------------------- */

/* A state's mask, in whichever form is smallest: the bitset over the
 * tokenizer's ids, or the sorted list of allowed ids (few allowed: inside
 * structure), or the sorted list of refused ids (few refused: free text). */
typedef enum { MK_BITS, MK_ALLOW, MK_DENY } mk_kind;

typedef struct mk_mask {
    mk_kind kind;
    int32_t count;   /* tokens of the trie allowed (eos not counted) */
    int32_t n;       /* MK_BITS: words; MK_ALLOW / MK_DENY: ids listed */
    uint32_t data[]; /* bits (bit id set = allowed) or ids */
} mk_mask;

#define MK_BUDGET ((size_t)64 << 20) /* cached mask bytes per grammar; past it, masks are not kept */

struct cons_grammar {
    atomic_int refs;
    dfa d;
    ti_index *ti;
    dfa_cursor *depth;   /* (ti->max_len + 1) mask walk cursors, under d.mu */
    uint32_t *fill_bits; /* a mask being made, before it is packed; under d.mu */
    size_t mask_bytes;   /* cached masks, under d.mu */
    size_t mask_budget;
    atomic_llong stat_masks_made, stat_masks_uncached;
};

struct cons_matcher {
    cons_grammar *g;
    dfa_cursor cur;      /* where the text so far leads */
    dfa_cursor tmp[2];   /* walks past the state cap */
    bool eos_allowed;    /* cons_matcher_allow_eos */
    float *eos_save;     /* (ti->n_eos) the eos logits while the row is masked */
    float *keep;         /* (words of a bitset) MK_ALLOW masks: the allowed logits while the row is cleared */
    mk_mask *scratch;    /* a bitset mask that is not cached (state cap or budget), lazily */
};

/* What a grammar holds now (bench, tests). */
typedef struct {
    int32_t nfa_states, byte_classes, dfa_states;
    uint32_t trie_nodes;
    size_t dfa_bytes, mask_bytes;
    long long masks_made, masks_uncached;
} cons_stats;
void cons_grammar_stats(cons_grammar *g, cons_stats *s);

/* A grammar over an existing index (takes a reference on ti); max_states
 * caps its DFA cache.  NULL + err. */
cons_grammar *cons_compile_index(const char *re, size_t len, ti_index *ti, int32_t max_states, char *err);

/* The mask of m's state: a cached one, or m's scratch bitset filled now.
 * NULL out of memory.  Thread-safe (mask.c). */
const mk_mask *mk_mask_of(cons_matcher *m);
void mk_free_all(cons_grammar *g); /* the cached masks, at grammar free */

#endif
