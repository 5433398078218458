/*
 * stop.c — Aho–Corasick matching of a request's stop strings over streamed
 * bytes (semantics in stop.h).
 *
 * The automaton is a trie of the stop strings.  Each node stands for the
 * string spelled from the root; its failure link points to the node of that
 * string's longest proper suffix which is also in the trie, and `out` names
 * the longest stop string that is a suffix of it (its own, or inherited
 * through the failure link).  The current node after each byte is
 * therefore the longest suffix of the text that is a prefix of some stop
 * string: its depth is exactly the hold-back, and its `out` says whether a
 * stop string ends at this byte (the longest one, i.e. earliest start).
 *
 * Children are kept as sibling lists (at most 256 per node, usually one or
 * two), so memory is O(total stop bytes), not 256 entries per node.
 */
#include "stop.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t child;   /* first child, -1 if none */
    int32_t sibling; /* next child of the same parent, -1 if none */
    int32_t fail;    /* failure link (root: 0) */
    int32_t out;     /* longest stop string ending here, -1 if none */
    uint32_t depth;  /* length of the string this node spells */
    uint8_t byte;    /* the edge label from the parent */
} ac_node;

struct stop_matcher {
    ac_node *nodes; /* nodes[0] is the root */
    int32_t n_nodes;
    size_t *lens; /* byte length of each stop string */
    int n_stops;
    int32_t state; /* current node */
    size_t total;  /* bytes fed so far */
    stop_result match; /* valid once match.matched */
};

bool stop_validate(const char *const *stops, int n, char *err) {
    if (n < 0 || (n > 0 && !stops)) return ct_err(err, "`stop` is malformed (%d entries)", n);
    for (int i = 0; i < n; i++)
        if (!stops[i] || !stops[i][0])
            return ct_err(err, "`stop` sequences must be non-empty strings (entry %d is empty)", i);
    return true;
}

static int32_t find_child(const stop_matcher *m, int32_t node, uint8_t b) {
    for (int32_t c = m->nodes[node].child; c >= 0; c = m->nodes[c].sibling)
        if (m->nodes[c].byte == b) return c;
    return -1;
}

/* Insert stop string `idx` into the trie; nodes[] is pre-sized, so this
 * cannot run out of room.  An earlier equal string keeps its index. */
static void trie_insert(stop_matcher *m, const char *s, int idx) {
    int32_t node = 0;
    for (size_t i = 0; s[i]; i++) {
        uint8_t b = (uint8_t)s[i];
        int32_t c = find_child(m, node, b);
        if (c < 0) {
            c = m->n_nodes++;
            m->nodes[c] = (ac_node){.child = -1, .sibling = m->nodes[node].child, .fail = 0,
                                    .out = -1, .depth = m->nodes[node].depth + 1, .byte = b};
            m->nodes[node].child = c;
        }
        node = c;
    }
    if (m->nodes[node].out < 0) m->nodes[node].out = idx;
}

/* The node reached from `node` by byte b, following failure links. */
static int32_t step(const stop_matcher *m, int32_t node, uint8_t b) {
    for (;;) {
        int32_t c = find_child(m, node, b);
        if (c >= 0) return c;
        if (node == 0) return 0;
        node = m->nodes[node].fail;
    }
}

/* Breadth-first, so a node's failure target (shallower) is done before it.
 * A node with no stop string of its own inherits its failure target's
 * `out`, which is the longest stop string that is a proper suffix. */
static bool link_failures(stop_matcher *m) {
    int32_t *queue = malloc((size_t)m->n_nodes * sizeof *queue);
    if (!queue) return false;
    int32_t head = 0, tail = 0;
    for (int32_t c = m->nodes[0].child; c >= 0; c = m->nodes[c].sibling) {
        m->nodes[c].fail = 0;
        queue[tail++] = c;
    }
    while (head < tail) {
        int32_t u = queue[head++];
        for (int32_t c = m->nodes[u].child; c >= 0; c = m->nodes[c].sibling) {
            int32_t f = step(m, m->nodes[u].fail, m->nodes[c].byte);
            m->nodes[c].fail = f;
            if (m->nodes[c].out < 0) m->nodes[c].out = m->nodes[f].out;
            queue[tail++] = c;
        }
    }
    free(queue);
    return true;
}

stop_matcher *stop_create(const char *const *stops, int n) {
    if (!stop_validate(stops, n, NULL)) return NULL;
    stop_matcher *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    size_t n_nodes = 1;
    m->lens = calloc(n > 0 ? (size_t)n : 1, sizeof *m->lens);
    if (!m->lens) goto fail;
    for (int i = 0; i < n; i++) {
        m->lens[i] = strlen(stops[i]);
        if (m->lens[i] > INT32_MAX - n_nodes) goto fail; /* node ids are int32 */
        n_nodes += m->lens[i];
    }
    m->nodes = malloc(n_nodes * sizeof *m->nodes);
    if (!m->nodes) goto fail;
    m->nodes[0] = (ac_node){.child = -1, .sibling = -1, .fail = 0, .out = -1};
    m->n_nodes = 1;
    m->n_stops = n;
    for (int i = 0; i < n; i++) trie_insert(m, stops[i], i);
    if (!link_failures(m)) goto fail;
    m->match.stop_index = -1;
    return m;
fail:
    stop_free(m);
    return NULL;
}

void stop_free(stop_matcher *m) {
    if (!m) return;
    free(m->nodes);
    free(m->lens);
    free(m);
}

bool stop_feed(stop_matcher *m, const char *piece, size_t len, stop_result *out) {
    size_t i = 0;
    for (; i < len && !m->match.matched; i++) {
        m->state = step(m, m->state, (uint8_t)piece[i]);
        int32_t k = m->nodes[m->state].out;
        if (k >= 0) {
            m->match.matched = true;
            m->match.stop_index = k;
            m->match.match_end = m->total + i + 1;
            m->match.match_start = m->match.match_end - m->lens[k];
        }
    }
    m->total += len; /* bytes after a match are counted, not scanned */
    if (out) {
        *out = m->match;
        out->total = m->total;
        out->hold = m->match.matched ? 0 : m->nodes[m->state].depth;
    }
    return m->match.matched;
}
