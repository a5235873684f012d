/* Worlds: the bios generator and the WordNet parser and generator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "data/bios.h"
#include "data/bios_pools.h"
#include "data/textbuf.h"
#include "data/wordnet.h"

/* ---- helpers ------------------------------------------------------------ */

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/plateau-worlds-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void remove_tree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static char *slurp(const char *dir, const char *name, size_t *bytes)
{
    char path[4096];
    path_join(path, sizeof path, dir, name);
    char *text;
    size_t n;
    Err e;
    if (read_file(path, &text, &n, &e)) fail_msg("%s", e.msg);
    if (bytes) *bytes = n;
    return text;
}

static int is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* Occurrences of name in text as whole words. */
static int count_word(const char *text, const char *name)
{
    int n = 0;
    size_t len = strlen(name);
    for (const char *p = strstr(text, name); p; p = strstr(p + 1, name))
        if ((p == text || !is_letter(p[-1])) && !is_letter(p[len])) n++;
    return n;
}

static BiosWorld make_bios(uint64_t seed, int people, const char *dir, BiosStats *st)
{
    BiosOptions o;
    bios_default_options(&o);
    o.seed = seed;
    o.people = people;
    BiosWorld w;
    Err e;
    if (bios_generate(&w, &o, &e)) fail_msg("%s", e.msg);
    if (dir && bios_write(&w, dir, st, &e)) fail_msg("%s", e.msg);
    return w;
}

static const char *const BIOS_FILES[] = {
    "pretrain.txt", "mid.txt", "sft_train.jsonl", "sft_valid.jsonl", "eval_qa_test.jsonl",
    "eval_qa_train.jsonl", "eval_mc_test.jsonl", "eval_mc_train.jsonl", "people.jsonl", "world.json",
};

/* ---- bios ----------------------------------------------------------------- */

static void bios_same_seed_gives_identical_bytes_and_another_seed_differs(void **state)
{
    (void)state;
    char *d1 = temp_dir(), *d2 = temp_dir(), *d3 = temp_dir();
    BiosWorld w1 = make_bios(7, 200, d1, NULL), w2 = make_bios(7, 200, d2, NULL), w3 = make_bios(8, 200, d3, NULL);
    for (size_t f = 0; f < sizeof BIOS_FILES / sizeof BIOS_FILES[0]; f++) {
        size_t n1, n2, n3;
        char *a = slurp(d1, BIOS_FILES[f], &n1), *b = slurp(d2, BIOS_FILES[f], &n2), *c = slurp(d3, BIOS_FILES[f], &n3);
        assert_true(n1 > 0);
        assert_int_equal(n1, n2);
        assert_memory_equal(a, b, n1);
        if (strcmp(BIOS_FILES[f], "world.json") != 0)
            assert_true(n1 != n3 || memcmp(a, c, n1) != 0);
        free(a); free(b); free(c);
    }
    bios_free(&w1); bios_free(&w2); bios_free(&w3);
    remove_tree(d1); remove_tree(d2); remove_tree(d3);
    free(d1); free(d2); free(d3);
}

static void bios_every_template_renders_its_value_and_is_used(void **state)
{
    (void)state;
    char *dir = temp_dir();
    BiosStats st;
    BiosWorld w = make_bios(3, 400, dir, &st);
    TextBuf s = {0}, v = {0}, name = {0};
    bios_full_name(&w, 0, &name);
    for (int a = 0; a < BIOS_N_ATTRIBUTES; a++) {
        textbuf_clear(&v);
        bios_value(&w, 0, (BiosAttribute)a, &v);
        assert_true(bios_template_count((BiosAttribute)a) >= 20);
        assert_true(bios_question_count((BiosAttribute)a) >= 5);
        for (int k = 0; k < bios_template_count((BiosAttribute)a); k++) {
            for (int pronoun = 0; pronoun < 2; pronoun++) {
                textbuf_clear(&s);
                bios_render(&w, 0, (BiosAttribute)a, bios_template((BiosAttribute)a, k), pronoun, &s);
                if (!strstr(s.data, v.data)) fail_msg("%s template %d lacks the value: %s", bios_attribute_name(a), k, s.data);
                assert_null(strchr(s.data, '{'));
                /* full name, or a pronoun as the first word */
                if (pronoun) assert_true(strncmp(s.data, w.people[0].female ? "She " : "He ", 3 + !!w.people[0].female) == 0 ||
                                         strncmp(s.data, w.people[0].female ? "Her " : "His ", 4) == 0);
                else assert_true(strncmp(s.data, name.data, name.len) == 0);
            }
            /* 400 people x 5 biographies: every template drawn many times (expected ~95) */
            if (st.template_uses[a][k] < 20) fail_msg("%s template %d used %ld times", bios_attribute_name(a), k, st.template_uses[a][k]);
        }
        for (int q = 0; q < bios_question_count((BiosAttribute)a); q++) {
            textbuf_clear(&s);
            bios_render(&w, 0, (BiosAttribute)a, BIOS_QUESTIONS[a][q], 0, &s);
            assert_non_null(strstr(s.data, name.data));
            assert_int_equal(s.data[s.len - 1], '?');
        }
    }
    textbuf_free(&s); textbuf_free(&v); textbuf_free(&name);
    bios_free(&w);
    remove_tree(dir);
    free(dir);
}

static void bios_pools_are_large_and_name_pools_disjoint(void **state)
{
    (void)state;
    assert_true(BIOS_N_FEMALE_NAMES + BIOS_N_MALE_NAMES >= 200);
    assert_true(BIOS_N_LAST_NAMES >= 200);
    assert_true(BIOS_N_CITIES >= 100);
    assert_true(BIOS_N_UNIVERSITIES >= 60);
    assert_true(BIOS_N_MAJORS >= 60);
    assert_true(BIOS_N_COMPANIES >= 100);
    const char *const *pools[] = {BIOS_FEMALE_NAMES, BIOS_MALE_NAMES, BIOS_MIDDLE_NAMES, BIOS_LAST_NAMES, BIOS_CITIES};
    int sizes[] = {BIOS_N_FEMALE_NAMES, BIOS_N_MALE_NAMES, BIOS_N_MIDDLE_NAMES, BIOS_N_LAST_NAMES, BIOS_N_CITIES};
    for (int p = 0; p < 5; p++)
        for (int q = p; q < 5; q++)
            for (int i = 0; i < sizes[p]; i++)
                for (int j = (p == q ? i + 1 : 0); j < sizes[q]; j++)
                    if (strcmp(pools[p][i], pools[q][j]) == 0) fail_msg("'%s' is in two name/city pools", pools[p][i]);
}

static void bios_splits_partition_people_with_unique_names(void **state)
{
    (void)state;
    BiosWorld w = make_bios(5, 1001, NULL, NULL);
    int count[3] = {0};
    for (int i = 0; i < w.n_people; i++) count[w.people[i].split]++;
    assert_int_equal(count[BIOS_SPLIT_TEST], 500);
    assert_int_equal(count[BIOS_SPLIT_MID], 50);   /* 1001 / 20 */
    assert_int_equal(count[BIOS_SPLIT_TRAIN], 451);
    assert_int_equal(w.n_test, 500);
    assert_int_equal(w.n_train, 451);
    assert_int_equal(w.n_eval_train, 451);
    char **names = malloc((size_t)w.n_people * sizeof *names);
    for (int i = 0; i < w.n_people; i++) {
        TextBuf b = {0};
        bios_full_name(&w, i, &b);
        names[i] = b.data;
    }
    for (int i = 0; i < w.n_people; i++)
        for (int j = i + 1; j < w.n_people; j++) assert_string_not_equal(names[i], names[j]);
    for (int i = 0; i < w.n_people; i++) free(names[i]);
    free(names);
    bios_free(&w);
}

static void bios_test_people_never_appear_in_sft_or_mid_text(void **state)
{
    (void)state;
    char *dir = temp_dir();
    BiosWorld w = make_bios(11, 300, dir, NULL);
    char *sft_train = slurp(dir, "sft_train.jsonl", NULL), *sft_valid = slurp(dir, "sft_valid.jsonl", NULL);
    char *mid = slurp(dir, "mid.txt", NULL), *pre = slurp(dir, "pretrain.txt", NULL);
    char *eval_test = slurp(dir, "eval_qa_test.jsonl", NULL), *eval_train = slurp(dir, "eval_qa_train.jsonl", NULL);
    int checked[3] = {0};
    for (int i = 0; i < w.n_people; i++) {
        TextBuf name = {0};
        bios_full_name(&w, i, &name);
        int in_sft = count_word(sft_train, name.data) + count_word(sft_valid, name.data);
        int in_mid = count_word(mid, name.data);
        assert_int_equal(count_word(pre, name.data), 5 * 6);   /* 5 biographies x 6 sentences */
        switch (w.people[i].split) {
        case BIOS_SPLIT_TEST:
            if (in_sft || in_mid) fail_msg("test person %s in SFT (%d) or mid (%d)", name.data, in_sft, in_mid);
            assert_int_equal(count_word(eval_test, name.data), 6 * 2);   /* question + "person" field */
            assert_int_equal(count_word(eval_train, name.data), 0);
            break;
        case BIOS_SPLIT_TRAIN:
            assert_int_equal(in_sft, 6);                 /* one question per attribute */
            assert_int_equal(in_mid, 5 * 6);             /* biographies only, no Q/A */
            assert_int_equal(count_word(eval_test, name.data), 0);
            break;
        case BIOS_SPLIT_MID:
            assert_int_equal(in_sft, 0);
            assert_int_equal(in_mid, 5 * 6 + 6 * 2);     /* biographies + 2 Q/A per attribute */
            break;
        }
        checked[w.people[i].split]++;
        textbuf_free(&name);
    }
    assert_int_equal(checked[BIOS_SPLIT_TEST] + checked[BIOS_SPLIT_TRAIN] + checked[BIOS_SPLIT_MID], 300);
    free(sft_train); free(sft_valid); free(mid); free(pre); free(eval_test); free(eval_train);
    bios_free(&w);
    remove_tree(dir);
    free(dir);
}

/* Finds the person with this full name (-1 if none). */
static int find_person(const BiosWorld *w, const char *name)
{
    for (int i = 0; i < w->n_people; i++) {
        TextBuf b = {0};
        bios_full_name(w, i, &b);
        int same = strcmp(b.data, name) == 0;
        textbuf_free(&b);
        if (same) return i;
    }
    return -1;
}

static BiosAttribute attribute_named(const char *s)
{
    for (int a = 0; a < BIOS_N_ATTRIBUTES; a++)
        if (strcmp(bios_attribute_name((BiosAttribute)a), s) == 0) return (BiosAttribute)a;
    fail_msg("unknown attribute %s", s);
    return BIOS_BIRTH_DATE;
}

static void bios_mc_items_hold_the_true_value_among_four_distinct_choices(void **state)
{
    (void)state;
    char *dir = temp_dir();
    BiosWorld w = make_bios(2, 120, dir, NULL);
    char *mc = slurp(dir, "eval_mc_test.jsonl", NULL);
    int items = 0, at[4] = {0};
    for (char *line = strtok(mc, "\n"); line; line = strtok(NULL, "\n"), items++) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        const cJSON *choices = cJSON_GetObjectItem(j, "choices");
        assert_int_equal(cJSON_GetArraySize(choices), 4);
        int answer = cJSON_GetObjectItem(j, "answer")->valueint;
        assert_true(answer >= 0 && answer < 4);
        at[answer]++;
        for (int a = 0; a < 4; a++)
            for (int b = a + 1; b < 4; b++)
                assert_string_not_equal(cJSON_GetArrayItem(choices, a)->valuestring, cJSON_GetArrayItem(choices, b)->valuestring);
        int p = find_person(&w, cJSON_GetObjectItem(j, "person")->valuestring);
        assert_true(p >= 0);
        assert_int_equal(w.people[p].split, BIOS_SPLIT_TEST);
        TextBuf v = {0};
        textbuf_putc(&v, ' ');
        bios_value(&w, p, attribute_named(cJSON_GetObjectItem(j, "attribute")->valuestring), &v);
        assert_string_equal(cJSON_GetArrayItem(choices, answer)->valuestring, v.data);
        /* the context is the start of a training sentence: "NAME was born in" etc. */
        assert_int_equal(strncmp(cJSON_GetObjectItem(j, "context")->valuestring, cJSON_GetObjectItem(j, "person")->valuestring,
                                 strlen(cJSON_GetObjectItem(j, "person")->valuestring)), 0);
        textbuf_free(&v);
        cJSON_Delete(j);
    }
    assert_int_equal(items, 60 * 6);
    for (int a = 0; a < 4; a++) assert_true(at[a] > 50);   /* ~90 each: the answer slot is random */
    free(mc);
    bios_free(&w);
    remove_tree(dir);
    free(dir);
}

static void bios_qa_answers_are_the_facts_and_sft_splits_nine_to_one(void **state)
{
    (void)state;
    char *dir = temp_dir();
    BiosStats st;
    BiosWorld w = make_bios(4, 200, dir, &st);
    /* 200 people: 100 test, 10 mid, 90 train -> 540 SFT records, 486 train / 54 valid */
    assert_int_equal(st.files[2].lines, 486);
    assert_int_equal(st.files[3].lines, 54);
    assert_int_equal(st.files[4].lines, 600);   /* eval_qa_test: 100 x 6 */
    assert_int_equal(st.files[5].lines, 540);   /* eval_qa_train: min(90, 100) x 6 */
    char *qa = slurp(dir, "eval_qa_test.jsonl", NULL);
    int n = 0;
    for (char *line = strtok(qa, "\n"); line; line = strtok(NULL, "\n"), n++) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        int p = find_person(&w, cJSON_GetObjectItem(j, "person")->valuestring);
        assert_true(p >= 0);
        TextBuf v = {0};
        bios_value(&w, p, attribute_named(cJSON_GetObjectItem(j, "attribute")->valuestring), &v);
        assert_string_equal(cJSON_GetObjectItem(j, "answer")->valuestring, v.data);
        const cJSON *msgs = cJSON_GetObjectItem(j, "messages");
        assert_int_equal(cJSON_GetArraySize(msgs), 1);
        assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 0), "role")->valuestring, "user");
        textbuf_free(&v);
        cJSON_Delete(j);
    }
    assert_int_equal(n, 600);
    free(qa);
    bios_free(&w);
    remove_tree(dir);
    free(dir);
}

static void bios_pronoun_option_keeps_one_full_name_per_biography(void **state)
{
    (void)state;
    BiosOptions o;
    bios_default_options(&o);
    o.people = 50;
    o.full_name_every_sentence = 0;
    o.bios_per_person = 2;
    BiosWorld w;
    Err e;
    char *dir = temp_dir();
    if (bios_generate(&w, &o, &e) || bios_write(&w, dir, NULL, &e)) fail_msg("%s", e.msg);
    char *pre = slurp(dir, "pretrain.txt", NULL);
    for (int i = 0; i < w.n_people; i++) {
        TextBuf name = {0};
        bios_full_name(&w, i, &name);
        assert_int_equal(count_word(pre, name.data), 2);
        textbuf_free(&name);
    }
    free(pre);
    bios_free(&w);
    remove_tree(dir);
    free(dir);
}

static void bios_rejects_impossible_options_naming_the_field(void **state)
{
    (void)state;
    BiosOptions o;
    BiosWorld w;
    Err e;
    bios_default_options(&o);
    o.people = 3;
    assert_int_equal(bios_generate(&w, &o, &e), -1);
    assert_non_null(strstr(e.msg, "people = 3"));
    bios_default_options(&o);
    o.people = 10;
    o.mid_people = 5;   /* 5 test + 5 mid leaves no P_train */
    assert_int_equal(bios_generate(&w, &o, &e), -1);
    assert_non_null(strstr(e.msg, "mid_people"));
}

/* ---- wordnet -------------------------------------------------------------- */

/* A hand-written snippet in the wndb(5) layout: licence header, nouns with
 * hypernym (@) and instance (@i) pointers, a gloss with two examples. */
static const char NOUN_FIXTURE[] =
    "  1 This is a licence header line\n"
    "  2 and another\n"
    "00000100 03 n 01 entity 0 000 | that which exists  \n"
    "00000200 05 n 02 animal 0 beast 0 001 @ 00000100 n 0000 | a living organism that moves; \"the animal ran\"  \n"
    "00000300 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 002 @ 00000200 n 0000 ~ 00000400 n 0000 | a member of the genus Canis; \"the dog barked all night\"; \"a good dog\"  \n"
    "00000400 05 n 01 puppy 0 001 @ 00000300 n 0000 | a young dog  \n"
    "00000500 18 n 01 Laika 0 001 @i 00000300 n 0000 | the first dog in orbit  \n";
static const char VERB_FIXTURE[] =
    "00000100 29 v 02 bark 0 yap 1 001 @ 00000200 v 0000 02 + 02 00 + 08 01 | make barking sounds; \"the dogs barked\"  \n"
    "00000200 32 v 01 communicate 0 000 01 + 02 00 | transmit information  \n";
static const char ADJ_FIXTURE[] =
    "00000100 00 a 02 handy 0 ready_to_hand(p) 0 000 | easy to reach  \n";

static WordNetDb fixture_db(void)
{
    WordNetDb db;
    memset(&db, 0, sizeof db);
    Err e;
    if (wordnet_parse(&db, NOUN_FIXTURE, strlen(NOUN_FIXTURE), "data.noun", &e) ||
        wordnet_parse(&db, VERB_FIXTURE, strlen(VERB_FIXTURE), "data.verb", &e) ||
        wordnet_parse(&db, ADJ_FIXTURE, strlen(ADJ_FIXTURE), "data.adj", &e) ||
        wordnet_link(&db, &e))
        fail_msg("%s", e.msg);
    return db;
}

static void wordnet_parses_a_hand_written_snippet(void **state)
{
    (void)state;
    WordNetDb db = fixture_db();
    assert_int_equal(db.n_synsets, 8);
    /* dog: three words, underscores as spaces, definition without examples */
    const WordNetSynset *dog = &db.synsets[2];
    assert_int_equal(dog->offset, 300);
    assert_int_equal(dog->pos, 'n');
    assert_int_equal(dog->n_words, 3);
    assert_string_equal(wordnet_word(&db, 2, 0), "dog");
    assert_string_equal(wordnet_word(&db, 2, 1), "domestic dog");
    assert_string_equal(wordnet_word(&db, 2, 2), "Canis familiaris");
    assert_string_equal(wordnet_definition(&db, 2), "a member of the genus Canis");
    assert_int_equal(dog->n_examples, 2);
    assert_string_equal(wordnet_example(&db, 2, 0), "the dog barked all night");
    assert_string_equal(wordnet_example(&db, 2, 1), "a good dog");
    /* pointers: dog -> animal (@), Laika -> dog (@i), entity -> none */
    assert_int_equal(dog->hypernym, 1);
    assert_int_equal(db.synsets[4].hypernym, 2);
    assert_int_equal(db.synsets[0].hypernym, -1);
    assert_string_equal(wordnet_definition(&db, 1), "a living organism that moves");
    /* verbs: frames skipped, hypernym resolved within the verbs, not to noun 00000200 */
    assert_int_equal(db.synsets[5].pos, 'v');
    assert_string_equal(wordnet_word(&db, 5, 1), "yap");
    assert_int_equal(db.synsets[5].hypernym, 6);
    assert_string_equal(wordnet_definition(&db, 5), "make barking sounds");
    /* adjective marker "(p)" stripped */
    assert_string_equal(wordnet_word(&db, 7, 1), "ready to hand");
    assert_int_equal(db.synsets[7].n_examples, 0);
    wordnet_free(&db);
}

static void wordnet_malformed_lines_name_file_and_line(void **state)
{
    (void)state;
    static const struct { const char *text; const char *expect; } BAD[] = {
        {"  header\n00000100 03 n 01 entity 0 000 | ok\n00000200 03 n 0x thing 0 000 | bad count\n", "data.noun:3: expected the word count"},
        {"00000100 03 q 01 entity 0 000 | bad type\n", "data.noun:1: expected the synset type"},
        {"00000100 03 n 01 entity 0 000 no gloss bar\n", "data.noun:1: no '|'"},
        {"00000100 03 n 02 entity 0 | too few words\n", "data.noun:1:"},
        {"00000100 03 n 01 entity 0 002 @ 00000200 n 0000 | one pointer short\n", "data.noun:1: line ends before pointer 2 of 2"},
        {"00000100 03 n 01 entity 0 000 extra | trailing field\n", "data.noun:1: unexpected 'extra'"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        WordNetDb db;
        memset(&db, 0, sizeof db);
        Err e = {{0}};
        assert_int_equal(wordnet_parse(&db, BAD[i].text, strlen(BAD[i].text), "data.noun", &e), -1);
        if (!strstr(e.msg, BAD[i].expect)) fail_msg("case %zu: got '%s', expected '%s'", i, e.msg, BAD[i].expect);
        wordnet_free(&db);
    }
    /* a hypernym pointer to nowhere */
    WordNetDb db;
    memset(&db, 0, sizeof db);
    Err e;
    const char *dangling = "00000100 03 n 01 entity 0 001 @ 00000999 n 0000 | x\n";
    assert_int_equal(wordnet_parse(&db, dangling, strlen(dangling), "data.noun", &e), 0);
    assert_int_equal(wordnet_link(&db, &e), -1);
    assert_non_null(strstr(e.msg, "00000999"));
    wordnet_free(&db);
    /* a missing folder names the package */
    assert_int_equal(wordnet_load(&db, "/nonexistent-wordnet", &e), -1);
    assert_non_null(strstr(e.msg, "wordnet-base"));
}

static void wordnet_world_from_the_snippet_copies_the_licence(void **state)
{
    (void)state;
    WordNetDb db = fixture_db();
    char *dir = temp_dir(), lic[4200];
    snprintf(lic, sizeof lic, "%s/copyright", dir);
    const char *text = "License: WordNet3.0\n Permission to use...\n\nFiles: debian/*\nLicense: GPL-2+\n";
    Err e;
    if (write_file_atomic(lic, text, strlen(text), &e)) fail_msg("%s", e.msg);
    char out[4200];
    snprintf(out, sizeof out, "%s/world", dir);
    WordNetOptions o;
    wordnet_default_options(&o);
    WordNetStats st;
    if (wordnet_write(&db, &o, lic, out, &st, &e)) fail_msg("%s", e.msg);
    char *l = slurp(out, "LICENSE-WordNet", NULL);
    assert_non_null(strstr(l, "License: WordNet3.0"));
    assert_null(strstr(l, "GPL"));   /* the packaging's own stanza is not WordNet's licence */
    free(l);
    /* askable: first word in no other synset. All 8 are (the fixture has no
     * shared words), so 4 test, 0 mid (5% of 8), 4 train. */
    assert_int_equal(st.n_synsets, 8);
    assert_int_equal(st.n_test, 4);
    assert_int_equal(st.n_train, 4);
    char *pre = slurp(out, "pretrain.txt", NULL);
    assert_non_null(strstr(pre, "a member of the genus Canis"));
    assert_non_null(strstr(pre, "\"domestic dog\""));
    assert_non_null(strstr(pre, "the dog barked all night"));
    free(pre);
    char *world = slurp(out, "world.json", NULL);
    cJSON *j = cJSON_Parse(world);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "splits"), "test")->valueint, 4);
    cJSON_Delete(j);
    free(world);
    wordnet_free(&db);
    remove_tree(dir);
    free(dir);
}

static void wordnet_real_files_parse_and_test_words_stay_out_of_sft(void **state)
{
    (void)state;
    if (!file_exists(WORDNET_DIR "/data.noun")) { skip(); return; }
    WordNetDb db;
    Err e;
    if (wordnet_load(&db, WORDNET_DIR, &e)) fail_msg("%s", e.msg);
    /* WordNet 3.0: 82115 noun + 13767 verb + 18156 adjective + 3621 adverb synsets */
    assert_int_equal(db.n_synsets, 117659);
    int found = 0;
    for (int s = 0; s < db.n_synsets && !found; s++)
        if (db.synsets[s].pos == 'n' && strcmp(wordnet_word(&db, s, 0), "dog") == 0 &&
            strncmp(wordnet_definition(&db, s), "a member of the genus Canis", 27) == 0) {
            found = 1;
            assert_string_equal(wordnet_word(&db, db.synsets[s].hypernym, 0), "canine");
        }
    assert_true(found);
    char *dir = temp_dir();
    WordNetOptions o;
    wordnet_default_options(&o);
    o.max_synsets = 600;
    WordNetStats st;
    if (wordnet_write(&db, &o, file_exists(WORDNET_COPYRIGHT) ? NULL : WORDNET_DIR "/data.noun", dir, &st, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(st.n_test, 300);
    assert_int_equal(st.n_mid, 30);
    assert_int_equal(st.n_train, 270);
    char *sft = slurp(dir, "sft_train.jsonl", NULL), *valid = slurp(dir, "sft_valid.jsonl", NULL);
    char *mid = slurp(dir, "mid.txt", NULL), *qa = slurp(dir, "eval_qa_test.jsonl", NULL);
    int words = 0;
    for (char *line = strtok(qa, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        const char *w = cJSON_GetObjectItem(j, "word")->valuestring;
        /* questions quote their word: \"w\" inside JSON, "w" in mid.txt's Q/A */
        char quoted[512];
        snprintf(quoted, sizeof quoted, "\\\"%s\\\"", w);
        if (strstr(sft, quoted) || strstr(valid, quoted)) fail_msg("test word %s asked about in SFT", w);
        snprintf(quoted, sizeof quoted, "Q: What is \"%s\"", w);
        assert_null(strstr(mid, quoted));
        words++;
        cJSON_Delete(j);
    }
    assert_true(words > 200);
    free(sft); free(valid); free(mid); free(qa);
    remove_tree(dir);
    free(dir);
    wordnet_free(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bios_same_seed_gives_identical_bytes_and_another_seed_differs),
        cmocka_unit_test(bios_every_template_renders_its_value_and_is_used),
        cmocka_unit_test(bios_pools_are_large_and_name_pools_disjoint),
        cmocka_unit_test(bios_splits_partition_people_with_unique_names),
        cmocka_unit_test(bios_test_people_never_appear_in_sft_or_mid_text),
        cmocka_unit_test(bios_mc_items_hold_the_true_value_among_four_distinct_choices),
        cmocka_unit_test(bios_qa_answers_are_the_facts_and_sft_splits_nine_to_one),
        cmocka_unit_test(bios_pronoun_option_keeps_one_full_name_per_biography),
        cmocka_unit_test(bios_rejects_impossible_options_naming_the_field),
        cmocka_unit_test(wordnet_parses_a_hand_written_snippet),
        cmocka_unit_test(wordnet_malformed_lines_name_file_and_line),
        cmocka_unit_test(wordnet_world_from_the_snippet_copies_the_licence),
        cmocka_unit_test(wordnet_real_files_parse_and_test_words_stay_out_of_sft),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
