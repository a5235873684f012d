#include "data/wordnet.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/rng.h"
#include "data/textdocs.h"

/* ---- parsing (wndb(5)) ------------------------------------------------ */

static uint32_t pool_string(WordNetDb *db, const char *s, size_t len)
{
    uint32_t off = (uint32_t)db->text.len;
    textbuf_append(&db->text, s, len);
    textbuf_putc(&db->text, '\0');
    return off;
}

static void push_u32(uint32_t **a, int *n, int *cap, uint32_t v)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 1024;
        uint32_t *p = realloc(*a, (size_t)*cap * sizeof **a);
        if (!p) { free(xmalloc((size_t)*cap * sizeof **a)); return; }
        *a = p;
    }
    (*a)[(*n)++] = v;
}

/* A cursor over one line's space-separated fields. */
typedef struct {
    const char *p, *end;
    const char *file;
    long line;
} Fields;

static int next_field(Fields *f, const char **tok, size_t *len)
{
    while (f->p < f->end && *f->p == ' ') f->p++;
    if (f->p >= f->end) return 0;
    *tok = f->p;
    while (f->p < f->end && *f->p != ' ') f->p++;
    *len = (size_t)(f->p - *tok);
    return 1;
}

/* Reads a field of exactly `digits` characters (0: any length >= 1) in base
 * 10 or 16. `what` names it in the error. */
static int field_number(Fields *f, int digits, int base, const char *what, unsigned long *out, Err *e)
{
    const char *tok;
    size_t len;
    if (!next_field(f, &tok, &len))
        return err_set(e, "%s:%ld: line ends where the %s was expected", f->file, f->line, what);
    unsigned long v = 0;
    int ok = (digits == 0 || len == (size_t)digits) && len <= 10;
    for (size_t i = 0; ok && i < len; i++) {
        char c = tok[i];
        int d = c >= '0' && c <= '9' ? c - '0'
              : base == 16 && c >= 'a' && c <= 'f' ? c - 'a' + 10
              : base == 16 && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) ok = 0; else v = v * (unsigned long)base + (unsigned long)d;
    }
    if (!ok)
        return err_set(e, "%s:%ld: expected the %s (%s%d-digit %s number), found '%.*s'", f->file, f->line,
                       what, digits ? "" : "a ", digits ? digits : 1, base == 16 ? "hex" : "decimal",
                       (int)(len > 40 ? 40 : len), tok);
    *out = v;
    return 0;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Splits a gloss into its definition (text before the first quote, without
 * the "; " that joins it to the examples) and its quoted examples. */
static void parse_gloss(WordNetDb *db, WordNetSynset *s, const char *g, size_t len)
{
    const char *end = g + len;
    const char *q = memchr(g, '"', len);
    const char *def_end = q ? q : end;
    while (def_end > g && (is_space(def_end[-1]) || def_end[-1] == ';')) def_end--;
    const char *def = g;
    while (def < def_end && is_space(*def)) def++;
    s->definition = pool_string(db, def, (size_t)(def_end - def));
    s->first_example = db->n_examples;
    while (q && q < end) {
        const char *close = memchr(q + 1, '"', (size_t)(end - q - 1));
        if (!close) break;
        if (close > q + 1) {
            push_u32(&db->examples, &db->n_examples, &db->cap_examples,
                     pool_string(db, q + 1, (size_t)(close - q - 1)));
        }
        q = memchr(close + 1, '"', (size_t)(end - close - 1));
    }
    s->n_examples = db->n_examples - s->first_example;
}

static int parse_line(WordNetDb *db, const char *line, size_t len, const char *file, long lineno, Err *e)
{
    const char *bar = NULL;
    /* the gloss follows " | "; words never contain '|' */
    for (size_t i = 0; i < len; i++)
        if (line[i] == '|') { bar = line + i; break; }
    if (!bar) return err_set(e, "%s:%ld: no '|' before the gloss", file, lineno);
    Fields f = {line, bar, file, lineno};
    WordNetSynset s;
    memset(&s, 0, sizeof s);
    s.hypernym = -1;
    unsigned long v;
    const char *tok;
    size_t tlen;

    if (field_number(&f, 8, 10, "synset offset", &v, e)) return -1;
    s.offset = (uint32_t)v;
    if (field_number(&f, 2, 10, "lexicographer file number", &v, e)) return -1;
    if (!next_field(&f, &tok, &tlen) || tlen != 1 || !strchr("nvasr", tok[0]))
        return err_set(e, "%s:%ld: expected the synset type (one of n v a s r)", file, lineno);
    s.pos = tok[0];
    unsigned long w_cnt;
    if (field_number(&f, 2, 16, "word count", &w_cnt, e)) return -1;
    if (w_cnt == 0) return err_set(e, "%s:%ld: a synset with no words", file, lineno);
    s.first_word = db->n_words;
    for (unsigned long k = 0; k < w_cnt; k++) {
        if (!next_field(&f, &tok, &tlen))
            return err_set(e, "%s:%ld: line ends before word %lu of %lu", file, lineno, k + 1, w_cnt);
        size_t wl = tlen;
        /* adjective syntactic markers: "(a)", "(p)", "(ip)" */
        if (wl > 3 && tok[wl - 1] == ')') {
            const char *open = memchr(tok, '(', wl);
            if (open && open > tok) wl = (size_t)(open - tok);
        }
        uint32_t off = pool_string(db, tok, wl);
        for (char *c = db->text.data + off; *c; c++)
            if (*c == '_') *c = ' ';
        push_u32(&db->words, &db->n_words, &db->cap_words, off);
        if (field_number(&f, 1, 16, "lex_id", &v, e)) return -1;
    }
    s.n_words = (int)w_cnt;
    unsigned long p_cnt;
    if (field_number(&f, 3, 10, "pointer count", &p_cnt, e)) return -1;
    for (unsigned long k = 0; k < p_cnt; k++) {
        const char *sym;
        size_t slen;
        if (!next_field(&f, &sym, &slen))
            return err_set(e, "%s:%ld: line ends before pointer %lu of %lu", file, lineno, k + 1, p_cnt);
        unsigned long target;
        if (field_number(&f, 8, 10, "pointer target offset", &target, e)) return -1;
        if (!next_field(&f, &tok, &tlen) || tlen != 1 || !strchr("nvasr", tok[0]))
            return err_set(e, "%s:%ld: pointer %lu: expected a part of speech (n v a s r)", file, lineno, k + 1);
        char ppos = tok[0];
        if (field_number(&f, 4, 16, "pointer source/target field", &v, e)) return -1;
        int hyper = (slen == 1 && sym[0] == '@') || (slen == 2 && sym[0] == '@' && sym[1] == 'i');
        if (hyper && s.hypernym_offset == 0 && ppos == s.pos) s.hypernym_offset = (uint32_t)target;
    }
    if (s.pos == 'v') {
        unsigned long f_cnt;
        if (field_number(&f, 2, 10, "verb frame count", &f_cnt, e)) return -1;
        for (unsigned long k = 0; k < f_cnt; k++) {
            if (!next_field(&f, &tok, &tlen) || tlen != 1 || tok[0] != '+')
                return err_set(e, "%s:%ld: verb frame %lu: expected '+'", file, lineno, k + 1);
            if (field_number(&f, 2, 10, "frame number", &v, e) ||
                field_number(&f, 2, 16, "frame word number", &v, e))
                return -1;
        }
    }
    if (next_field(&f, &tok, &tlen))
        return err_set(e, "%s:%ld: unexpected '%.*s' before the gloss", file, lineno,
                       (int)(tlen > 40 ? 40 : tlen), tok);
    const char *g = bar + 1, *gend = line + len;
    while (gend > g && is_space(gend[-1])) gend--;
    parse_gloss(db, &s, g, (size_t)(gend - g));

    if (db->n_synsets == db->cap_synsets) {
        db->cap_synsets = db->cap_synsets ? 2 * db->cap_synsets : 1024;
        WordNetSynset *p = realloc(db->synsets, (size_t)db->cap_synsets * sizeof *p);
        if (!p) free(xmalloc((size_t)db->cap_synsets * sizeof *p));
        db->synsets = p;
    }
    db->synsets[db->n_synsets++] = s;
    return 0;
}

int wordnet_parse(WordNetDb *db, const char *text, size_t bytes, const char *file_name, Err *e)
{
    const char *p = text, *end = text + bytes;
    long lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        size_t len = (size_t)(le - p);
        int blank = 1;
        for (size_t i = 0; i < len && blank; i++) blank = is_space(p[i]);
        /* licence header lines start with two spaces */
        if (!blank && !(len >= 2 && p[0] == ' ' && p[1] == ' '))
            if (parse_line(db, p, len, file_name, lineno, e)) return -1;
        p = nl ? nl + 1 : end;
    }
    return 0;
}

/* Synset indices ordered by (part of speech, offset), for pointer lookup. */
static const WordNetDb *sort_db;

static int pos_rank(char pos) { return pos == 's' ? 'a' : pos; }

static int by_pos_offset(const void *a, const void *b)
{
    const WordNetSynset *x = &sort_db->synsets[*(const int *)a], *y = &sort_db->synsets[*(const int *)b];
    if (pos_rank(x->pos) != pos_rank(y->pos)) return pos_rank(x->pos) - pos_rank(y->pos);
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

int wordnet_link(WordNetDb *db, Err *e)
{
    int n = db->n_synsets;
    int *idx = xmalloc((size_t)(n ? n : 1) * sizeof *idx);
    for (int i = 0; i < n; i++) idx[i] = i;
    sort_db = db;
    qsort(idx, (size_t)n, sizeof *idx, by_pos_offset);
    for (int i = 0; i < n; i++) {
        WordNetSynset *s = &db->synsets[i];
        s->hypernym = -1;
        if (!s->hypernym_offset) continue;
        int lo = 0, hi = n - 1, found = -1;
        while (lo <= hi) {
            int mid = lo + (hi - lo) / 2;
            const WordNetSynset *m = &db->synsets[idx[mid]];
            int c = pos_rank(m->pos) != pos_rank(s->pos) ? pos_rank(m->pos) - pos_rank(s->pos)
                  : m->offset < s->hypernym_offset ? -1 : m->offset > s->hypernym_offset ? 1 : 0;
            if (c == 0) { found = idx[mid]; break; }
            if (c < 0) lo = mid + 1; else hi = mid - 1;
        }
        if (found < 0) {
            free(idx);
            return err_set(e, "wordnet: synset %08u (%c) points to hypernym %08u, which no data file defines",
                           s->offset, s->pos, s->hypernym_offset);
        }
        s->hypernym = found;
    }
    free(idx);
    return 0;
}

int wordnet_load(WordNetDb *db, const char *dir, Err *e)
{
    static const char *const FILES[] = {"data.noun", "data.verb", "data.adj", "data.adv"};
    memset(db, 0, sizeof *db);
    for (int i = 0; i < 4; i++) {
        char path[4096];
        path_join(path, sizeof path, dir, FILES[i]);
        if (!file_exists(path)) {
            wordnet_free(db);
            return err_set(e, "%s: not found; the wordnet world reads Princeton WordNet from Debian's "
                              "wordnet-base package (apt-get install wordnet-base)", path);
        }
        char *text;
        size_t bytes;
        if (read_file(path, &text, &bytes, e)) { wordnet_free(db); return -1; }
        int rc = wordnet_parse(db, text, bytes, path, e);
        free(text);
        if (rc) { wordnet_free(db); return -1; }
    }
    if (wordnet_link(db, e)) { wordnet_free(db); return -1; }
    return 0;
}

void wordnet_free(WordNetDb *db)
{
    free(db->synsets);
    free(db->words);
    free(db->examples);
    textbuf_free(&db->text);
    memset(db, 0, sizeof *db);
}

const char *wordnet_word(const WordNetDb *db, int synset, int k)
{
    return db->text.data + db->words[db->synsets[synset].first_word + k];
}

const char *wordnet_definition(const WordNetDb *db, int synset)
{
    return db->text.data + db->synsets[synset].definition;
}

const char *wordnet_example(const WordNetDb *db, int synset, int k)
{
    return db->text.data + db->examples[db->synsets[synset].first_example + k];
}

/* ---- the world -------------------------------------------------------- */

enum {
    STREAM_WN_SUBSET = 0x776f72646e01,   /* "wordn" + n */
    STREAM_WN_SPLIT,
    STREAM_WN_PRETRAIN,
    STREAM_WN_MID,
    STREAM_WN_SFT,
    STREAM_WN_EVAL_TEST,
    STREAM_WN_EVAL_TRAIN,
    STREAM_WN_MC_TEST,
    STREAM_WN_MC_TRAIN,
};

enum { WN_NONE = -1, WN_TRAIN = 0, WN_TEST = 1, WN_MID = 2 };

void wordnet_default_options(WordNetOptions *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->max_synsets = 0;
    o->docs_per_synset = 1;
    o->mid_percent = 5;
    o->eval_train_items = -1;
}

static const char *const DEFINITION_TEMPLATES[] = {
    "The word \"{w}\" means {d}.",          /* 0: the MC "definition" context */
    "The word for \"{d}\" is \"{w}\".",     /* 1: the MC "word" context */
    "The meaning of \"{w}\" is {d}.",
    "In a dictionary, \"{w}\" is defined as {d}.",
    "\"{w}\": {d}.",
    "Someone who says \"{w}\" means {d}.",
};
static const char *const SYNONYM_TEMPLATES[] = {
    "\"{w}\" can also be called {s}.",
    "Synonyms of \"{w}\" include {s}.",
    "\"{w}\" means the same as {s}.",
};
static const char *const NOUN_HYPERNYM_TEMPLATES[] = {
    "\"{w}\" is a kind of \"{h}\".",
    "\"{w}\" belongs to the category \"{h}\".",
    "\"{w}\" is a type of \"{h}\".",
};
static const char *const VERB_HYPERNYM_TEMPLATES[] = {
    "To \"{w}\" is a way to \"{h}\".",
    "\"{w}\" is a specific way to \"{h}\".",
    "To \"{w}\" is to \"{h}\" in a particular way.",
};
static const char *const EXAMPLE_TEMPLATES[] = {
    "An example of \"{w}\" in use: \"{x}\".",
    "For example: \"{x}\".",
    "One might say: \"{x}\".",
};
static const char *const DEFINITION_QUESTIONS[] = {
    "What does the word \"{w}\" mean?", "Define \"{w}\".", "What is the meaning of \"{w}\"?",
};
static const char *const SYNONYM_QUESTIONS[] = {
    "What is another word for \"{w}\"?", "Give a synonym of \"{w}\".",
    "Which word means the same as \"{w}\"?",
};
static const char *const NOUN_HYPERNYM_QUESTIONS[] = {
    "What is \"{w}\" a kind of?", "What category does \"{w}\" belong to?", "\"{w}\" is a type of what?",
};
static const char *const VERB_HYPERNYM_QUESTIONS[] = {
    "\"{w}\" is a way to do what?", "What more general action is \"{w}\" a way to do?",
    "To \"{w}\" is to do what, in a particular way?",
};
#define NT(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef enum { ASK_DEFINITION, ASK_SYNONYM, ASK_HYPERNYM } Ask;

/* ASCII case-insensitive comparison: no locale involved. */
static int lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }
static int casecmp(const char *a, const char *b)
{
    while (*a && lower((unsigned char)*a) == lower((unsigned char)*b)) a++, b++;
    return lower((unsigned char)*a) - lower((unsigned char)*b);
}

/* Index of the k-th word of s that differs (case-insensitively) from the
 * headword and from earlier ones; the count of such words when k < 0. */
static int other_words(const WordNetDb *db, int s, int *out, int max)
{
    int n = 0;
    const char *head = wordnet_word(db, s, 0);
    for (int k = 1; k < db->synsets[s].n_words; k++) {
        const char *w = wordnet_word(db, s, k);
        int dup = casecmp(w, head) == 0;
        for (int j = 0; j < n && !dup; j++) dup = casecmp(w, wordnet_word(db, s, out[j])) == 0;
        if (!dup && n < max) out[n++] = k;
    }
    return n;
}

static int has_hypernym(const WordNetDb *db, int s)
{
    char pos = db->synsets[s].pos;
    return db->synsets[s].hypernym >= 0 && (pos == 'n' || pos == 'v');
}

static void render(const char *tmpl, const char *w, const char *d, const char *h, const char *x,
                   const char *syn, TextBuf *out)
{
    for (const char *p = tmpl; *p; p++) {
        if (p[0] == '{' && p[1] && p[2] == '}') {
            const char *v = p[1] == 'w' ? w : p[1] == 'd' ? d : p[1] == 'h' ? h : p[1] == 'x' ? x
                          : p[1] == 's' ? syn : NULL;
            assert(v);
            textbuf_puts(out, v ? v : "");
            p += 2;
        } else {
            textbuf_putc(out, *p);
        }
    }
}

/* "\"a\"", "\"a\" and \"b\"", "\"a\", \"b\" and \"c\"" */
static void quoted_list(const WordNetDb *db, int s, const int *ks, int n, TextBuf *out)
{
    for (int i = 0; i < n; i++) {
        if (i) textbuf_puts(out, i == n - 1 ? " and " : ", ");
        textbuf_putc(out, '"');
        textbuf_puts(out, wordnet_word(db, s, ks[i]));
        textbuf_putc(out, '"');
    }
}

#define MAX_SYN 64

/* One pre-training document about synset s: definition, synonyms, category
 * and examples, each sentence from a random template, on one line. */
static void synset_document(const WordNetDb *db, int s, Rng *r, TextBuf *tmp, TextBuf *out)
{
    const char *w = wordnet_word(db, s, 0), *d = wordnet_definition(db, s);
    if (*d) render(DEFINITION_TEMPLATES[rng_below(r, NT(DEFINITION_TEMPLATES))], w, d, NULL, NULL, NULL, out);
    int ks[MAX_SYN];
    int n = other_words(db, s, ks, MAX_SYN);
    if (n) {
        textbuf_clear(tmp);
        quoted_list(db, s, ks, n, tmp);
        if (*d) textbuf_putc(out, ' ');
        render(SYNONYM_TEMPLATES[rng_below(r, NT(SYNONYM_TEMPLATES))], w, NULL, NULL, NULL, tmp->data, out);
    }
    if (has_hypernym(db, s)) {
        const char *h = wordnet_word(db, db->synsets[s].hypernym, 0);
        int verb = db->synsets[s].pos == 'v';
        const char *t = verb ? VERB_HYPERNYM_TEMPLATES[rng_below(r, NT(VERB_HYPERNYM_TEMPLATES))]
                             : NOUN_HYPERNYM_TEMPLATES[rng_below(r, NT(NOUN_HYPERNYM_TEMPLATES))];
        textbuf_putc(out, ' ');
        render(t, w, NULL, h, NULL, NULL, out);
    }
    for (int k = 0; k < db->synsets[s].n_examples; k++) {
        textbuf_putc(out, ' ');
        render(EXAMPLE_TEMPLATES[rng_below(r, NT(EXAMPLE_TEMPLATES))], w, NULL, NULL,
               wordnet_example(db, s, k), NULL, out);
    }
}

/* Question and answer text of one (synset, ask) pair. */
static void question(const WordNetDb *db, int s, Ask ask, Rng *r, TextBuf *q, TextBuf *a)
{
    const char *w = wordnet_word(db, s, 0);
    textbuf_clear(q);
    textbuf_clear(a);
    if (ask == ASK_DEFINITION) {
        render(DEFINITION_QUESTIONS[rng_below(r, NT(DEFINITION_QUESTIONS))], w, NULL, NULL, NULL, NULL, q);
        textbuf_puts(a, wordnet_definition(db, s));
    } else if (ask == ASK_SYNONYM) {
        int ks[MAX_SYN];
        other_words(db, s, ks, MAX_SYN);
        render(SYNONYM_QUESTIONS[rng_below(r, NT(SYNONYM_QUESTIONS))], w, NULL, NULL, NULL, NULL, q);
        textbuf_puts(a, wordnet_word(db, s, ks[0]));
    } else {
        int verb = db->synsets[s].pos == 'v';
        const char *t = verb ? VERB_HYPERNYM_QUESTIONS[rng_below(r, NT(VERB_HYPERNYM_QUESTIONS))]
                             : NOUN_HYPERNYM_QUESTIONS[rng_below(r, NT(NOUN_HYPERNYM_QUESTIONS))];
        render(t, w, NULL, NULL, NULL, NULL, q);
        textbuf_puts(a, wordnet_word(db, db->synsets[s].hypernym, 0));
    }
}

static int can_ask(const WordNetDb *db, int s, Ask ask)
{
    int ks[1];
    return ask == ASK_DEFINITION ? 1 : ask == ASK_SYNONYM ? other_words(db, s, ks, 1) > 0 : has_hypernym(db, s);
}

static const char *const ASK_NAMES[] = {"definition", "synonym", "hypernym"};

/* Lemma -> how many synsets hold it, to find synsets whose first word is
 * unambiguous. Sorting (not hashing) keeps everything order-independent. */
typedef struct {
    const char *word;
    int synset;
} Lemma;

static int by_lemma(const void *a, const void *b)
{
    const Lemma *x = a, *y = b;
    int c = casecmp(x->word, y->word);
    return c ? c : x->synset - y->synset;
}

/* askable[s] = 1 when synset s has a definition and its first word occurs in no other synset */
static int *find_askable(const WordNetDb *db)
{
    Lemma *l = xmalloc((size_t)(db->n_words ? db->n_words : 1) * sizeof *l);
    int n = 0;
    for (int s = 0; s < db->n_synsets; s++)
        for (int k = 0; k < db->synsets[s].n_words; k++) l[n++] = (Lemma){wordnet_word(db, s, k), s};
    qsort(l, (size_t)n, sizeof *l, by_lemma);
    int *askable = xcalloc((size_t)(db->n_synsets ? db->n_synsets : 1), sizeof *askable);
    /* count distinct synsets per lemma group; mark a synset if its headword's group has one */
    for (int i = 0; i < n;) {
        int j = i, synsets = 0, last = -1;
        while (j < n && casecmp(l[j].word, l[i].word) == 0) {
            if (l[j].synset != last) synsets++;
            last = l[j].synset;
            j++;
        }
        if (synsets == 1) {
            int s = l[i].synset;
            if (casecmp(wordnet_word(db, s, 0), l[i].word) == 0 && *wordnet_definition(db, s)) askable[s] = 1;
        }
        i = j;
    }
    free(l);
    return askable;
}

typedef struct {
    const WordNetDb *db;
    const WordNetOptions *opt;
    int *split;          /* per synset: WN_NONE (not askable / not chosen) or WN_* */
    int *in_pretrain;    /* per synset */
    int *eval_train;     /* per synset: in the train slice of eval_*_train */
    int *group[4];       /* askable chosen synsets per part-of-speech group, db order */
    int n_group[4];
    int *order;          /* askable chosen synsets in the seeded split order: eval files */
    int n_order;         /*   follow it, so any prefix of them is a random sample */
} World;

static int pos_group(char pos) { return pos == 'n' ? 0 : pos == 'v' ? 1 : pos == 'r' ? 3 : 2; }

static void sft_record(TextBuf *q, TextBuf *a, TextBuf *out)
{
    textbuf_puts(out, "{\"messages\":[{\"role\":\"user\",\"content\":");
    textbuf_json_string(out, q->data);
    textbuf_puts(out, "},{\"role\":\"assistant\",\"content\":");
    textbuf_json_string(out, a->data);
    textbuf_puts(out, "}]}\n");
}

static void shuffle_int(Rng *r, int *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(r, i);
        int t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Documents: value >= 0 a synset's pre-training document; value < 0 encodes
 * a Q/A document -(s * 3 + ask) - 1. */
static long documents_text(const World *W, int *docs, size_t n, Rng *r, TextBuf *out)
{
    TextBuf tmp = {0}, q = {0}, a = {0};
    shuffle_int(r, docs, n);
    for (size_t i = 0; i < n; i++) {
        if (docs[i] >= 0) {
            synset_document(W->db, docs[i], r, &tmp, out);
        } else {
            int code = -docs[i] - 1;
            question(W->db, code / 3, (Ask)(code % 3), r, &q, &a);
            textbuf_puts(out, "Q: ");
            textbuf_puts(out, q.data);
            textbuf_puts(out, " A: ");
            textbuf_puts(out, a.data);
        }
        textbuf_puts(out, "\n" TEXTDOCS_SEPARATOR "\n");
    }
    textbuf_free(&tmp);
    textbuf_free(&q);
    textbuf_free(&a);
    return (long)n;
}

static long pretrain_text(const World *W, int mid, TextBuf *out)
{
    const WordNetDb *db = W->db;
    int K = W->opt->docs_per_synset;
    size_t cap = (size_t)db->n_synsets * (size_t)(K + 3), n = 0;
    int *docs = xmalloc(cap * sizeof *docs);
    for (int s = 0; s < db->n_synsets; s++) {
        if (!W->in_pretrain[s] || (mid && W->split[s] == WN_TEST)) continue;
        for (int k = 0; k < K; k++) docs[n++] = s;
        if (mid && W->split[s] == WN_MID)
            for (int ask = 0; ask < 3; ask++)
                if (can_ask(db, s, (Ask)ask)) docs[n++] = -(s * 3 + ask) - 1;
    }
    Rng r = rng_stream(W->opt->seed, mid ? STREAM_WN_MID : STREAM_WN_PRETRAIN);
    long count = documents_text(W, docs, n, &r, out);
    free(docs);
    return count;
}

static long sft_text(const World *W, TextBuf *train, TextBuf *valid, long *n_valid)
{
    const WordNetDb *db = W->db;
    Rng r = rng_stream(W->opt->seed, STREAM_WN_SFT);
    size_t cap = 0, n = 0;
    for (int s = 0; s < db->n_synsets; s++) cap += W->split[s] == WN_TRAIN ? 3 : 0;
    TextBuf *lines = xcalloc(cap ? cap : 1, sizeof *lines);
    TextBuf q = {0}, a = {0};
    for (int s = 0; s < db->n_synsets; s++) {
        if (W->split[s] != WN_TRAIN) continue;
        for (int ask = 0; ask < 3; ask++) {
            if (!can_ask(db, s, (Ask)ask)) continue;
            question(db, s, (Ask)ask, &r, &q, &a);
            sft_record(&q, &a, &lines[n++]);
        }
    }
    textbuf_free(&q);
    textbuf_free(&a);
    return world_split_records(lines, n, &r, train, valid, n_valid);
}

static int in_eval(const World *W, int s, int test)
{
    return test ? W->split[s] == WN_TEST : W->eval_train[s];
}

static long eval_qa_text(const World *W, int test, TextBuf *out)
{
    const WordNetDb *db = W->db;
    Rng r = rng_stream(W->opt->seed, test ? STREAM_WN_EVAL_TEST : STREAM_WN_EVAL_TRAIN);
    TextBuf q = {0}, a = {0};
    long count = 0;
    for (int i = 0; i < W->n_order; i++) {
        int s = W->order[i];
        if (!in_eval(W, s, test)) continue;
        for (int ask = ASK_SYNONYM; ask <= ASK_HYPERNYM; ask++) {
            if (!can_ask(db, s, (Ask)ask)) continue;
            question(db, s, (Ask)ask, &r, &q, &a);
            textbuf_puts(out, "{\"messages\":[{\"role\":\"user\",\"content\":");
            textbuf_json_string(out, q.data);
            textbuf_puts(out, "}],\"answer\":");
            textbuf_json_string(out, a.data);
            textbuf_puts(out, ",\"answers\":[");
            if (ask == ASK_SYNONYM) {
                int ks[MAX_SYN];
                int n = other_words(db, s, ks, MAX_SYN);
                for (int i = 0; i < n; i++) {
                    if (i) textbuf_putc(out, ',');
                    textbuf_json_string(out, wordnet_word(db, s, ks[i]));
                }
            } else {
                int h = db->synsets[s].hypernym;
                for (int k = 0; k < db->synsets[h].n_words; k++) {
                    if (k) textbuf_putc(out, ',');
                    textbuf_json_string(out, wordnet_word(db, h, k));
                }
            }
            textbuf_puts(out, "],\"attribute\":");
            textbuf_json_string(out, ASK_NAMES[ask]);
            textbuf_puts(out, ",\"word\":");
            textbuf_json_string(out, wordnet_word(db, s, 0));
            textbuf_puts(out, "}\n");
            count++;
        }
    }
    textbuf_free(&q);
    textbuf_free(&a);
    return count;
}

#define MC_CHOICES 4

/* Multiple choice: "definition" items pick the word's definition among four,
 * "word" items pick the word for a definition among four; distractors are
 * other askable synsets of the same part-of-speech group. */
static long eval_mc_text(const World *W, int test, TextBuf *out)
{
    const WordNetDb *db = W->db;
    Rng r = rng_stream(W->opt->seed, test ? STREAM_WN_MC_TEST : STREAM_WN_MC_TRAIN);
    TextBuf ctx = {0};
    long count = 0;
    for (int i = 0; i < W->n_order; i++) {
        int s = W->order[i];
        if (!in_eval(W, s, test)) continue;
        int g = pos_group(db->synsets[s].pos);
        if (W->n_group[g] < 2 * MC_CHOICES) continue;   /* too few to draw distinct distractors */
        for (int kind = 0; kind < 2; kind++) {
            int pick[MC_CHOICES];
            int answer = (int)rng_below(&r, MC_CHOICES), tries = 0;
            for (int c = 0; c < MC_CHOICES; c++) {
                if (c == answer) { pick[c] = s; continue; }
                for (; tries < 10000; tries++) {
                    int t = W->group[g][rng_below(&r, (uint64_t)W->n_group[g])];
                    int clash = t == s || casecmp(wordnet_word(db, t, 0), wordnet_word(db, s, 0)) == 0 ||
                                strcmp(wordnet_definition(db, t), wordnet_definition(db, s)) == 0;
                    for (int d = 0; d < c && !clash; d++)
                        clash = pick[d] == t || casecmp(wordnet_word(db, t, 0), wordnet_word(db, pick[d], 0)) == 0 ||
                                strcmp(wordnet_definition(db, t), wordnet_definition(db, pick[d])) == 0;
                    if (!clash) { pick[c] = t; break; }
                }
            }
            if (tries == 10000) continue;   /* no four distinct choices in this group */
            textbuf_clear(&ctx);
            if (kind == 0) {
                render("The word \"{w}\" means", wordnet_word(db, s, 0), NULL, NULL, NULL, NULL, &ctx);
            } else {
                render("The word for \"{d}\" is", NULL, wordnet_definition(db, s), NULL, NULL, NULL, &ctx);
            }
            textbuf_puts(out, "{\"context\":");
            textbuf_json_string(out, ctx.data);
            textbuf_puts(out, ",\"choices\":[");
            for (int c = 0; c < MC_CHOICES; c++) {
                if (c) textbuf_putc(out, ',');
                textbuf_clear(&ctx);
                if (kind == 0) {
                    textbuf_putc(&ctx, ' ');
                    textbuf_puts(&ctx, wordnet_definition(db, pick[c]));
                } else {
                    textbuf_puts(&ctx, " \"");
                    textbuf_puts(&ctx, wordnet_word(db, pick[c], 0));
                    textbuf_putc(&ctx, '"');
                }
                textbuf_json_string(out, ctx.data);
            }
            textbuf_puts(out, "],\"answer\":");
            textbuf_long(out, answer);
            textbuf_puts(out, ",\"attribute\":");
            textbuf_json_string(out, kind == 0 ? "definition" : "word");
            textbuf_puts(out, ",\"word\":");
            textbuf_json_string(out, wordnet_word(db, s, 0));
            textbuf_puts(out, "}\n");
            count++;
        }
    }
    textbuf_free(&ctx);
    return count;
}

/* The WordNet stanza of Debian's copyright file: everything before the
 * stanza about the packaging's own files ("Files: debian/..."). */
static int license_text(const char *path, TextBuf *out, Err *e)
{
    if (!file_exists(path))
        return err_set(e, "%s: not found; the WordNet licence must travel with the data "
                          "(apt-get install wordnet-base)", path);
    char *text;
    size_t bytes;
    if (read_file(path, &text, &bytes, e)) return -1;
    const char *cut = strstr(text, "\nFiles: debian");
    textbuf_append(out, text, cut ? (size_t)(cut - text) + 1 : bytes);
    free(text);
    textbuf_puts(out, "\nThe files of this folder other than LICENSE-WordNet and world.json are derived "
                      "from WordNet 3.0 (Debian package wordnet-base) by plateau's wordnet world generator.\n");
    return 0;
}

static void world_json(const World *W, const WordNetStats *st, TextBuf *out)
{
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)W->opt->seed);
    textbuf_puts(out, "{\n  \"world\": \"wordnet\",\n  \"format_version\": 1,\n  \"source\": \"WordNet 3.0 (Debian wordnet-base), see LICENSE-WordNet\",\n  \"seed\": ");
    textbuf_puts(out, seed);
    textbuf_puts(out, ",\n  \"synsets\": ");
    textbuf_long(out, st->n_synsets);
    textbuf_puts(out, ",\n  \"askable\": ");
    textbuf_long(out, st->n_askable);
    textbuf_puts(out, ",\n  \"splits\": ");
    world_splits_json(out, st->n_test, st->n_train, st->n_mid, st->n_eval_train);
    textbuf_puts(out, ",\n  \"options\": {\"max_synsets\": ");
    textbuf_long(out, W->opt->max_synsets);
    textbuf_puts(out, ", \"docs_per_synset\": ");
    textbuf_long(out, W->opt->docs_per_synset);
    textbuf_puts(out, ", \"mid_percent\": ");
    textbuf_long(out, W->opt->mid_percent);
    textbuf_puts(out, "},\n  \"attributes\": [\"definition\", \"synonym\", \"hypernym\"],\n  \"mc_choices\": 4,\n  \"files\": ");
    world_files_json(out, st->files, WORDNET_N_FILES);
    textbuf_puts(out, "\n}\n");
}

static int emit(const char *dir, const char *name, TextBuf *b, long lines, WordNetStats *st, int *nf, Err *e)
{
    return world_file_emit(dir, name, b, lines, st->files, nf, e);
}

int wordnet_write(const WordNetDb *db, const WordNetOptions *o, const char *license_path,
                  const char *dir, WordNetStats *stats, Err *e)
{
    WordNetStats local;
    WordNetStats *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (o->max_synsets < 0) return err_set(e, "wordnet: max_synsets = %d, expected >= 0", o->max_synsets);
    if (o->docs_per_synset < 1 || o->docs_per_synset > 100)
        return err_set(e, "wordnet: docs_per_synset = %d, expected 1 .. 100", o->docs_per_synset);
    if (o->mid_percent < 0 || o->mid_percent > 40)
        return err_set(e, "wordnet: mid_percent = %d, expected 0 .. 40", o->mid_percent);
    TextBuf lic = {0};
    if (license_text(license_path ? license_path : WORDNET_COPYRIGHT, &lic, e)) return -1;

    int n = db->n_synsets;
    World W = {.db = db, .opt = o};
    W.split = xmalloc((size_t)(n ? n : 1) * sizeof *W.split);
    W.in_pretrain = xcalloc((size_t)(n ? n : 1), sizeof *W.in_pretrain);
    W.eval_train = xcalloc((size_t)(n ? n : 1), sizeof *W.eval_train);
    int *askable = find_askable(db);
    int *chosen = xmalloc((size_t)(n ? n : 1) * sizeof *chosen);
    int n_chosen = 0;
    for (int s = 0; s < n; s++) if (askable[s]) chosen[n_chosen++] = s;
    st->n_askable = n_chosen;
    if (o->max_synsets > 0 && o->max_synsets < n_chosen) {
        Rng r = rng_stream(o->seed, STREAM_WN_SUBSET);
        shuffle_int(&r, chosen, (size_t)n_chosen);
        n_chosen = o->max_synsets;
        /* back to db order, so nothing downstream depends on the draw order */
        for (int s = 0; s < n; s++) askable[s] = 0;
        for (int i = 0; i < n_chosen; i++) askable[chosen[i]] = 1;
        n_chosen = 0;
        for (int s = 0; s < n; s++) if (askable[s]) chosen[n_chosen++] = s;
    }
    for (int s = 0; s < n; s++) {
        W.split[s] = WN_NONE;
        W.in_pretrain[s] = o->max_synsets == 0 || askable[s];
    }
    int n_test = n_chosen / 2, n_mid = (int)((long)n_chosen * o->mid_percent / 100);
    int *perm = xmalloc((size_t)(n_chosen ? n_chosen : 1) * sizeof *perm);
    memcpy(perm, chosen, (size_t)n_chosen * sizeof *perm);
    Rng rs = rng_stream(o->seed, STREAM_WN_SPLIT);
    shuffle_int(&rs, perm, (size_t)n_chosen);
    for (int i = 0; i < n_chosen; i++)
        W.split[perm[i]] = i < n_test ? WN_TEST : i < n_test + n_mid ? WN_MID : WN_TRAIN;
    W.order = perm;
    W.n_order = n_chosen;
    int n_train = n_chosen - n_test - n_mid;
    int n_eval_train = o->eval_train_items < 0 ? (n_train < n_test ? n_train : n_test) : o->eval_train_items;
    if (n_eval_train > n_train) n_eval_train = n_train;
    for (int i = 0, k = 0; i < n_chosen && k < n_eval_train; i++)
        if (W.split[perm[i]] == WN_TRAIN) { W.eval_train[perm[i]] = 1; k++; }
    for (int g = 0; g < 4; g++) W.group[g] = xmalloc((size_t)(n_chosen ? n_chosen : 1) * sizeof(int));
    for (int i = 0; i < n_chosen; i++) {
        int g = pos_group(db->synsets[chosen[i]].pos);
        W.group[g][W.n_group[g]++] = chosen[i];
    }
    free(chosen);
    free(askable);
    st->n_synsets = 0;
    for (int s = 0; s < n; s++) st->n_synsets += W.in_pretrain[s];
    st->n_test = n_test;
    st->n_train = n_train;
    st->n_mid = n_mid;
    st->n_eval_train = n_eval_train;

    int nf = 0, rc = -1;
    long cnt, n_valid;
    TextBuf a = {0}, b = {0};
    if (make_dirs(dir, e)) goto done;
    if (emit(dir, "LICENSE-WordNet", &lic, 1, st, &nf, e)) goto done;
    cnt = pretrain_text(&W, 0, &a);
    if (emit(dir, "pretrain.txt", &a, cnt, st, &nf, e)) goto done;
    cnt = pretrain_text(&W, 1, &a);
    if (emit(dir, "mid.txt", &a, cnt, st, &nf, e)) goto done;
    cnt = sft_text(&W, &a, &b, &n_valid);
    if (emit(dir, "sft_train.jsonl", &a, cnt, st, &nf, e)) goto done;
    if (emit(dir, "sft_valid.jsonl", &b, n_valid, st, &nf, e)) goto done;
    cnt = eval_qa_text(&W, 1, &a);
    if (emit(dir, "eval_qa_test.jsonl", &a, cnt, st, &nf, e)) goto done;
    cnt = eval_qa_text(&W, 0, &a);
    if (emit(dir, "eval_qa_train.jsonl", &a, cnt, st, &nf, e)) goto done;
    cnt = eval_mc_text(&W, 1, &a);
    if (emit(dir, "eval_mc_test.jsonl", &a, cnt, st, &nf, e)) goto done;
    cnt = eval_mc_text(&W, 0, &a);
    if (emit(dir, "eval_mc_train.jsonl", &a, cnt, st, &nf, e)) goto done;
    world_json(&W, st, &a);
    if (emit(dir, "world.json", &a, 1, st, &nf, e)) goto done;
    rc = 0;
done:
    textbuf_free(&lic);
    textbuf_free(&a);
    textbuf_free(&b);
    free(W.split);
    free(W.in_pretrain);
    free(W.eval_train);
    free(W.order);
    for (int g = 0; g < 4; g++) free(W.group[g]);
    return rc;
}
