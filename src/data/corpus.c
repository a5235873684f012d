#include "data/corpus.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/rng.h"
#include "data/bios.h"
#include "data/textbuf.h"
#include "data/zfile.h"

#define CORPUS_PEOPLE 2000

/* One biography of person p: 3-6 attribute sentences in random order. */
static void biography(const BiosWorld *w, int p, Rng *r, TextBuf *text)
{
    int n = 3 + (int)rng_below(r, 4);
    for (int k = 0; k < n; k++) {
        BiosAttribute a = (BiosAttribute)rng_below(r, BIOS_N_ATTRIBUTES);
        const char *tmpl = bios_template(a, (int)rng_below(r, (uint64_t)bios_template_count(a)));
        if (text->len) textbuf_putc(text, ' ');
        bios_render(w, p, a, tmpl, k > 0 && rng_below(r, 2), text);
    }
}

int corpus_write(const char *path, uint64_t bytes, uint64_t seed, CorpusStats *stats, Err *e)
{
    BiosOptions o;
    bios_default_options(&o);
    o.seed = seed;
    o.people = CORPUS_PEOPLE;
    BiosWorld w;
    if (bios_generate(&w, &o, e)) return -1;
    ZWriter *out;
    if (zwriter_open(&out, path, e)) {
        bios_free(&w);
        return -1;
    }
    Rng r = rng_stream(seed, 0xc0);
    TextBuf text = {0}, line = {0};
    CorpusStats st = {0};
    int rc = 0;
    while (st.text_bytes < bytes && !rc) {
        textbuf_clear(&text);
        int people = 1 + (int)rng_below(&r, 8);
        for (int k = 0; k < people; k++) biography(&w, (int)rng_below(&r, (uint64_t)w.n_people), &r, &text);
        char meta[160];
        textbuf_clear(&line);
        textbuf_puts(&line, "{\"text\": ");
        textbuf_json_string(&line, text.data);
        snprintf(meta, sizeof meta,
                 ", \"id\": \"<urn:plateau:%" PRIu64 ">\", \"url\": \"https://bios.example/%" PRIu64
                 "\", \"language\": \"en\", \"language_score\": 0.%02u, \"token_count\": 0}\n",
                 st.documents, st.documents, 80u + (unsigned)rng_below(&r, 20));
        textbuf_puts(&line, meta);
        rc = zwriter_write(out, line.data, line.len, e);
        st.text_bytes += line.len;
        st.documents++;
    }
    textbuf_free(&text);
    textbuf_free(&line);
    bios_free(&w);
    st.disk_bytes = zwriter_disk_bytes(out);
    if (rc) {
        zwriter_abort(out);
        return -1;
    }
    if (zwriter_commit(out, e)) return -1;
    if (stats) *stats = st;
    return 0;
}
