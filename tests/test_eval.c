/* Evaluation: task files, scoring conventions and their standard errors,
 * checked against numbers worked out by hand with scorers whose
 * log-probabilities are known; then a real nano model end to end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/checksum.h"
#include "core/rng.h"
#include "core/file.h"
#include "core/progress.h"
#include "data/tokenizer.h"
#include "eval/evaluate.h"
#include "eval/lm.h"
#include "eval/loss.h"
#include "eval/mc.h"
#include "eval/qa.h"
#include "eval/stats.h"
#include "eval/suite.h"
#include "eval/task.h"
#include "model/decode.h"
#include "model/llama.h"
#include "train/adamw.h"
#include "train/checkpoint.h"

#define NEAR(a, b) assert_true(fabs((double)(a) - (double)(b)) < 1e-6)

/* ---- task files ---------------------------------------------------------- */

static void task_parse_reads_both_kinds_and_skips_blank_lines(void **state)
{
    (void)state;
    Task t;
    Err e;
    const char *mc = "{\"context\":\"Ann was born in\",\"choices\":[\" Paris\",\" Lima\",\" Oslo\"],\"answer\":2,"
                     "\"attribute\":\"birth_city\",\"person\":\"Ann\"}\n\n"
                     "{\"context\":\"Bo studied\",\"choices\":[\" law\",\" art\"],\"answer\":0}\n";
    assert_int_equal(task_parse(&t, "/w/eval_mc_test.jsonl", mc, &e), 0);
    assert_string_equal(t.name, "eval_mc_test");
    assert_int_equal(t.kind, TASK_MC);
    assert_int_equal(t.n_items, 2);
    assert_string_equal(t.mc[0].choices[2], " Oslo");
    assert_int_equal(t.mc[0].answer, 2);
    assert_string_equal(t.mc[0].attribute, "birth_city");
    assert_string_equal(t.mc[1].attribute, "");
    task_free(&t);

    const char *qa = "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                     "{\"role\":\"user\",\"content\":\"Where was Ann born?\"}],\"answer\":\"Oslo\","
                     "\"attribute\":\"birth_city\"}\n";
    assert_int_equal(task_parse(&t, "qa.jsonl", qa, &e), 0);
    assert_int_equal(t.kind, TASK_QA);
    assert_int_equal(t.qa[0].conv.n_messages, 2);
    assert_int_equal(t.qa[0].conv.messages[0].role, CHAT_SYSTEM);
    assert_string_equal(t.qa[0].conv.messages[1].content, "Where was Ann born?");
    assert_string_equal(t.qa[0].answer, "Oslo");
    assert_string_equal(t.qa[0].attribute, "birth_city");
    task_free(&t);
}

static void expect_parse_error(const char *text, const char *want)
{
    Task t;
    Err e = {{0}};
    assert_int_equal(task_parse(&t, "tasks/x.jsonl", text, &e), -1);
    if (!strstr(e.msg, want)) fail_msg("message \"%s\" lacks \"%s\"", e.msg, want);
}

static void task_parse_errors_name_file_line_and_problem(void **state)
{
    (void)state;
    const char *ok = "{\"context\":\"a\",\"choices\":[\"b\",\"c\"],\"answer\":0}\n";
    char buf[1024];
    snprintf(buf, sizeof buf, "%s\n%s{\"context\":\"a\",\"choices\":[\"b\",\"c\"],\"answer\":\n", ok, ok);
    expect_parse_error(buf, "tasks/x.jsonl:4: not valid JSON");
    snprintf(buf, sizeof buf, "%s{\"context\":\"a\",\"choices\":[\"b\",\"c\"],\"answer\":2}\n", ok);
    expect_parse_error(buf, "tasks/x.jsonl:2: \"answer\" must index the 2 choices: 2 is outside [0, 1]");
    /* Out of int's range: checked as a double before any conversion. */
    expect_parse_error("{\"context\":\"a\",\"choices\":[\"b\",\"c\"],\"answer\":88e8}",
                       "tasks/x.jsonl:1: \"answer\" must index the 2 choices: 8800000000 is outside [0, 1]");
    expect_parse_error("{\"context\":\"a\",\"choices\":[\"b\",\"c\"],\"answer\":-1e300}",
                       "tasks/x.jsonl:1: \"answer\" must index the 2 choices: -1e+300 is outside [0, 1]");
    expect_parse_error("{\"context\":\"a\",\"choices\":[\"b\"],\"answer\":0}",
                       "tasks/x.jsonl:1: \"choices\" has 1 entries");
    expect_parse_error("{\"context\":\"a\",\"choices\":[\"b\",3],\"answer\":0}", "tasks/x.jsonl:1: choice 1 must be a string");
    expect_parse_error("{\"choices\":[\"b\",\"c\"],\"answer\":0}", "tasks/x.jsonl:1: missing field \"context\"");
    expect_parse_error("{\"context\":\"a\",\"choices\":[\"b\",\"c\"],\"answer\":0.5}",
                       "tasks/x.jsonl:1: \"answer\" must index the 2 choices: 0.5 is not an integer");
    expect_parse_error("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", "tasks/x.jsonl:1: missing field \"answer\"");
    expect_parse_error("{\"messages\":[{\"role\":\"robot\",\"content\":\"q\"}],\"answer\":\"a\"}",
                       "tasks/x.jsonl:1: messages[0].role \"robot\" is not one of");
    expect_parse_error("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}],"
                       "\"answer\":\"a\"}", "tasks/x.jsonl:1: the last message must be the user's question");
    snprintf(buf, sizeof buf, "%s{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],\"answer\":\"a\"}\n", ok);
    expect_parse_error(buf, "tasks/x.jsonl:2: a generation item in a file of multiple-choice items");
    expect_parse_error("[1,2]\n", "tasks/x.jsonl:1: expected a JSON object");
    expect_parse_error("\n\n", "tasks/x.jsonl: no items");
    Task t;
    Err e;
    assert_int_equal(task_load(&t, "/nonexistent/eval_mc.jsonl", &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/eval_mc.jsonl"));
}

/* ---- standard errors ----------------------------------------------------- */

static void stderr_of_accuracy_is_binomial_with_divisor_n(void **state)
{
    (void)state;
    NEAR(stderr_proportion(0.75, 4), sqrt(0.75 * 0.25 / 4));   /* 0.2165064 */
    NEAR(stderr_proportion(0.75, 4), 0.21650635);
    NEAR(stderr_proportion(0.3, 10), 0.14491377);
    NEAR(stderr_proportion(1.0, 50), 0.0);
    NEAR(stderr_proportion(0.0, 50), 0.0);
}

static void stderr_of_loss_is_sample_sd_over_sqrt_n_or_weighted_ratio(void **state)
{
    (void)state;
    double x[] = {1, 2, 3, 4}, m, se;
    weighted_mean_stderr(x, NULL, 4, &m, &se);
    NEAR(m, 2.5);
    NEAR(se, 0.64549722);   /* sd with divisor n-1: 1.2909944; / sqrt(4) */
    /* weights 1,2,1 on 0.02,0.05,0.08: mean 0.05; sqrt(3/2*(0.0009+0+0.0009))/4 */
    double y[] = {0.02, 0.05, 0.08}, w[] = {1, 2, 1};
    weighted_mean_stderr(y, w, 3, &m, &se);
    NEAR(m, 0.05);
    NEAR(se, 0.012990381);
    double one[] = {3};
    weighted_mean_stderr(one, NULL, 1, &m, &se);
    NEAR(m, 3);
    NEAR(se, 0);
    double s2[] = {0.03, 0.04};
    NEAR(stderr_of_average(s2, 2), 0.025);
}

/* ---- scorers with known answers ------------------------------------------- */

/* Over the byte tokenizer (ids = bytes): log p(tok | prev) =
 * -0.1 * (tok % 10) - (prev == ' ' ? 1 : 0). Any number works: the scorer
 * need not be a normalised model for the bookkeeping to be checked. */
static int fake_token_logprobs(void *ctx, const int *const *seqs, const int *lens, int n_rows,
                               float *lp, int stride, Err *e)
{
    int *calls = ctx;
    (void)e;
    (*calls)++;
    for (int r = 0; r < n_rows; r++)
        for (int j = 0; j + 1 < lens[r]; j++)
            lp[(size_t)r * stride + j] = -0.1f * (float)(seqs[r][j + 1] % 10) - (seqs[r][j] == ' ' ? 1.0f : 0.0f);
    return 0;
}

static Tokenizer *byte_tokenizer(void)
{
    Tokenizer *t;
    Err e;
    const char *text = "some text without any merges";
    if (tokenizer_train(&t, text, strlen(text), 256 + SPECIAL_COUNT, &e)) fail_msg("%s", e.msg);
    assert_int_equal(tokenizer_vocab_size(t), 260);
    return t;
}

static const char *MC_TASK =
    "{\"context\":\"The sky is\",\"choices\":[\" blue\",\" red\",\" green\"],\"answer\":2,\"attribute\":\"colour\"}\n"
    "{\"context\":\"Water is \",\"choices\":[\"wet\",\"dry\"],\"answer\":1,\"attribute\":\"state\"}\n"
    "{\"context\":\"\",\"choices\":[\"ab\",\"b\"],\"answer\":0,\"attribute\":\"colour\"}\n"
    "{\"context\":\"The sky is\",\"choices\":[\" blue\",\" red\",\" green\"],\"answer\":0,\"attribute\":\"colour\"}\n";

static void mc_scores_match_hand_computed_loglik_acc_and_acc_norm(void **state)
{
    (void)state;
    Tokenizer *tok = byte_tokenizer();
    Task t;
    Err e;
    assert_int_equal(task_parse(&t, "mc.jsonl", MC_TASK, &e), 0);
    /* By hand, token by token (prev -> tok: value):
     * " blue"  ' ' -0.2, 'b'(98) -0.8-1, 'l'(108) -0.8, 'u'(117) -0.7, 'e'(101) -0.1 = -3.6
     * " red"   -0.2, 'r'(114) -0.4-1, 'e' -0.1, 'd'(100) 0                           = -1.7
     * " green" -0.2, 'g'(103) -0.3-1, 'r' -0.4, 'e' -0.1, 'e' -0.1, 'n'(110) 0      = -2.1
     *   acc -> " red"; acc_norm: -3.6/5, -1.7/4, -2.1/6 = -0.72, -0.425, -0.35 -> " green"
     * "Water is " + "wet": the trailing space moves to the choice: " wet"
     *          ' ' -0.2, 'w'(119) -0.9-1, 'e' -0.1, 't'(116) -0.6                   = -2.8
     *   " dry"  -0.2, 'd' 0-1, 'r' -0.4, 'y'(121) -0.1                               = -1.7
     *   both pick "dry" (lengths 3 and 3 as written)
     * "" + "ab": context <|endoftext|>; 'a'(97) -0.7, 'b' -0.8 = -1.5; "b": -0.8
     *   acc -> "b"; acc_norm: -0.75 vs -0.8 -> "ab"
     * Answers 2, 1, 0, 0: acc 0,1,0,0 = 1/4; acc_norm 1,1,1,0 = 3/4. */
    const double want[] = {-3.6, -1.7, -2.1, -2.8, -1.7, -1.5, -0.8, -3.6, -1.7, -2.1};
    for (int rows = 1; rows <= 16; rows += 15) {
        int calls = 0;
        TokenScorer s = {&calls, rows, 64, fake_token_logprobs};
        McResult r;
        double ll[10];
        assert_int_equal(mc_evaluate(&t, tok, &s, 0, &r, ll, NULL, &e), 0);
        for (int i = 0; i < 10; i++) assert_true(fabs(ll[i] - want[i]) < 1e-5);
        assert_int_equal(calls, rows == 1 ? 10 : 1);   /* choices of items share a forward */
        assert_int_equal(r.n, 4);
        NEAR(r.acc, 0.25);
        NEAR(r.acc_norm, 0.75);
        NEAR(r.acc_stderr, 0.21650635);       /* sqrt(.25*.75/4) */
        NEAR(r.acc_norm_stderr, 0.21650635);
        assert_int_equal(r.n_attrs, 2);
        assert_string_equal(r.attrs[0].name, "colour");
        assert_int_equal(r.attrs[0].n, 3);
        NEAR(r.attrs[0].acc, 0.0);
        NEAR(r.attrs[0].acc_norm, 2.0 / 3);
        NEAR(r.attrs[1].acc, 1.0);
        /* margins: answer's loglik minus the best wrong one's:
         * -2.1 - -1.7 = -0.4; -1.7 - -2.8 = 1.1; -1.5 - -0.8 = -0.7; -3.6 - -1.7 = -1.9.
         * mean -0.475; squared deviations sum 4.5675, sd sqrt(4.5675/3), / sqrt(4) */
        const double margin[4] = {-0.4, 1.1, -0.7, -1.9};
        for (int i = 0; i < 4; i++) {
            NEAR(r.items[i].margin, margin[i]);
            assert_int_equal(r.items[i].correct, i == 1);
        }
        NEAR(r.margin, -0.475);
        NEAR(r.margin_stderr, sqrt(4.5675 / 3) / 2);   /* 0.6169481 */
        mc_result_free(&r);
    }
    /* --limit scores the first items only */
    int calls = 0;
    TokenScorer s = {&calls, 8, 64, fake_token_logprobs};
    McResult r;
    assert_int_equal(mc_evaluate(&t, tok, &s, 2, &r, NULL, NULL, &e), 0);
    assert_int_equal(r.n, 2);
    NEAR(r.acc, 0.5);
    NEAR(r.acc_norm, 1.0);
    mc_result_free(&r);
    task_free(&t);
    tokenizer_free(tok);
}

/* A seeded sample keeps n items in file order with their positions; the
 * same seed gives the same sample, and a second sample of a sample keeps
 * positions in the original file. */
static void task_sample_keeps_a_seeded_subset_in_file_order(void **state)
{
    (void)state;
    Task t, u;
    Err e;
    assert_int_equal(task_parse(&t, "mc.jsonl", MC_TASK, &e), 0);
    assert_int_equal(task_parse(&u, "mc.jsonl", MC_TASK, &e), 0);
    task_sample(&t, 4, 9);   /* all: unchanged */
    assert_null(t.index);
    task_sample(&t, 2, 9);
    task_sample(&u, 2, 9);
    assert_int_equal(t.n_items, 2);
    assert_true(t.index[0] < t.index[1]);
    assert_memory_equal(t.index, u.index, 2 * sizeof(long));
    static const int answers[4] = {2, 1, 0, 0};
    static const char *const first_choice[4] = {" blue", "wet", "ab", " blue"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(t.mc[k].answer, answers[t.index[k]]);
        assert_string_equal(t.mc[k].choices[0], first_choice[t.index[k]]);
    }
    long kept = t.index[1];
    task_sample(&t, 1, 3);
    assert_int_equal(t.n_items, 1);
    assert_true(t.index[0] == kept || t.index[0] == u.index[0]);
    task_free(&t);
    task_free(&u);
}

/* A tokenizer with one merge: "a" "b" -> 256. */
static Tokenizer *ab_tokenizer(void)
{
    Tokenizer *tok;
    Err e;
    const char *text = "ab ab ab ab ab ab";
    if (tokenizer_train(&tok, text, strlen(text), 257 + SPECIAL_COUNT, &e)) fail_msg("%s", e.msg);
    return tok;
}

/* A merge across the context/choice boundary: encode("a") = [a] but
 * encode("ab") = [ab] (no continuation) and encode("abb") = [ab, b] (its
 * continuation would start inside the context). Both are scored by the
 * fallback of mc.h, context and choice encoded apart, and counted; the task
 * is never refused for them. */
static void mc_merges_across_the_boundary_fall_back_and_are_counted(void **state)
{
    (void)state;
    Tokenizer *tok = ab_tokenizer();
    Err e;
    McRequest r;
    assert_int_equal(mc_request_build(&r, tok, "a", "b", 64, &e), 0);   /* empty continuation */
    assert_int_equal(r.fallback, 1);
    assert_int_equal(r.n_tokens, 2);
    assert_int_equal(r.n_cont, 1);
    assert_int_equal(r.tokens[0], 'a');
    assert_int_equal(r.tokens[1], 'b');
    mc_request_free(&r);
    assert_int_equal(mc_request_build(&r, tok, "a", "bb", 64, &e), 0);   /* shifted continuation */
    assert_int_equal(r.fallback, 1);
    assert_int_equal(r.n_tokens, 3);
    assert_int_equal(r.n_cont, 2);
    assert_int_equal(r.tokens[1], 'b');
    assert_int_equal(r.tokens[2], 'b');
    mc_request_free(&r);

    /* fake_token_logprobs: -0.1 x (token % 10), so by hand
     *   item 1: "b" -> [b] -0.8 (fallback), "bb" -> [b, b] -1.6 (fallback), "c" -> [c] -0.9
     *           acc and acc_norm pick "b" (norm: -0.8, -0.8, -0.9; ties go low): correct
     *   item 2: "y" -0.1, "z" -0.2: both pick "y", answer "z": wrong */
    static const char TASK[] = "{\"context\":\"a\",\"choices\":[\"b\",\"bb\",\"c\"],\"answer\":0}\n"
                               "{\"context\":\"x\",\"choices\":[\"y\",\"z\"],\"answer\":1}\n";
    char dir[] = "/tmp/plateau-mc-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/merge.jsonl", dir);
    assert_int_equal(write_file_atomic(path, TASK, strlen(TASK), &e), 0);
    Task t;
    assert_int_equal(task_load(&t, path, &e), 0);
    int calls = 0;
    TokenScorer s = {&calls, 8, 64, fake_token_logprobs};
    McResult m;
    double ll[5];
    if (mc_evaluate(&t, tok, &s, 0, &m, ll, NULL, &e)) fail_msg("%s", e.msg);
    const double want[] = {-0.8, -1.6, -0.9, -0.1, -0.2};
    for (int i = 0; i < 5; i++) assert_true(fabs(ll[i] - want[i]) < 1e-5);
    assert_int_equal(m.n, 2);
    assert_int_equal(m.n_fallback, 1);
    NEAR(m.acc, 0.5);
    NEAR(m.acc_norm, 0.5);
    mc_result_free(&m);
    task_free(&t);
    /* the report counts them */
    EvalReport rep;
    eval_report_init(&rep, "pt");
    const char *files[1] = {path};
    if (eval_suite_pt(&rep, files, 1, tok, &s, 0, &e)) fail_msg("%s", e.msg);
    const EvalRow *row = eval_report_find(&rep, "merge", "boundary_fallback");
    assert_non_null(row);
    assert_true(row->value == 1.0);
    assert_int_equal(row->n, 2);
    eval_report_free(&rep);
    unlink(path);
    rmdir(dir);
    tokenizer_free(tok);
}

static void mc_request_splits_joint_encoding_and_truncates_from_the_left(void **state)
{
    (void)state;
    Tokenizer *tok = ab_tokenizer();
    Err e;
    McRequest r;
    /* encode("x") = [x]; encode("xab") = [x, ab]: the harness rule, continuation [ab] */
    assert_int_equal(mc_request_build(&r, tok, "x", "ab", 64, &e), 0);
    assert_int_equal(r.n_tokens, 2);
    assert_int_equal(r.n_cont, 1);
    assert_int_equal(r.tokens[0], 'x');
    assert_int_equal(r.tokens[1], 256);
    assert_int_equal(r.fallback, 0);
    mc_request_free(&r);
    /* "xy ab" -> [x, y, ' ', 256]; a window of 3 keeps the last 3 */
    assert_int_equal(mc_request_build(&r, tok, "xy ", "ab", 3, &e), 0);
    assert_int_equal(r.fallback, 0);
    assert_int_equal(r.n_cont, 2);
    assert_int_equal(r.n_tokens, 3);
    assert_int_equal(r.tokens[0], 'y');
    assert_int_equal(r.tokens[1], ' ');
    assert_int_equal(r.tokens[2], 256);
    mc_request_free(&r);
    assert_int_equal(mc_request_build(&r, tok, "x", "ab ab ab", 3, &e), -1);
    assert_non_null(strstr(e.msg, "tokens"));
    tokenizer_free(tok);
}

/* Answers from a list, in call order, as byte tokens; records the first prompt. */
typedef struct {
    const char *const *replies;
    int   next;
    int   prompt[256];
    int   n_prompt;
    int   calls;
} CannedGenerator;

static int canned_generate(void *ctx, const int *const *prompts, const int *n_prompts, int n, const int *max_new,
                           int stop_token, int *const *outs, int *n_outs, Err *e)
{
    CannedGenerator *g = ctx;
    (void)stop_token;
    (void)e;
    g->calls++;
    for (int k = 0; k < n; k++) {
        if (g->next == 0) {
            memcpy(g->prompt, prompts[k], (size_t)n_prompts[k] * sizeof(int));
            g->n_prompt = n_prompts[k];
        }
        const char *s = g->replies[g->next++];
        int len = (int)strlen(s);
        n_outs[k] = len < max_new[k] ? len : max_new[k];
        for (int i = 0; i < n_outs[k]; i++) outs[k][i] = (unsigned char)s[i];
    }
    return 0;
}

static void answer_normalisation_trims_lowercases_and_strips_final_period(void **state)
{
    (void)state;
    char s[64] = "  Paris.  \n";
    answer_normalise(s);
    assert_string_equal(s, "paris");
    strcpy(s, "March 5, 1987..");
    answer_normalise(s);
    assert_string_equal(s, "march 5, 1987");
    assert_true(answer_matches(" MIT \n", "mit"));
    assert_true(answer_matches("St. Louis.", "st. louis"));
    assert_false(answer_matches("1985", "1984"));
    assert_false(answer_matches("Lima Peru", "Lima"));
    assert_false(answer_matches("", "a"));
}

static void exact_match_and_attribute_breakdown_are_counted_by_hand(void **state)
{
    (void)state;
    Tokenizer *tok = byte_tokenizer();
    Task t;
    Err e;
    const char *qa =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Where was Ann born?\"}],\"answer\":\"Paris\",\"attribute\":\"birth_city\"}\n"
        "{\"messages\":[{\"role\":\"user\",\"content\":\"When was Bo born?\"}],\"answer\":\"1984\",\"attribute\":\"birth_year\"}\n"
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Where did Cy study?\"}],\"answer\":\"MIT\",\"attribute\":\"university\"}\n"
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Where was Di born?\"}],\"answer\":\"Lima\",\"attribute\":\"birth_city\"}\n";
    assert_int_equal(task_parse(&t, "qa.jsonl", qa, &e), 0);
    const char *replies[] = {" paris.", "1985", "MIT \n", "Lima Peru"};
    CannedGenerator cg = {replies, 0, {0}, 0, 0};
    Generator g = {&cg, 64, 3, canned_generate};
    QaResult r;
    assert_int_equal(qa_evaluate(&t, tok, &g, 32, 0, &r, NULL, &e), 0);
    /* matches: yes, no, yes, no -> 2/4; stderr sqrt(.5*.5/4) = .25 */
    assert_int_equal(r.n, 4);
    assert_int_equal(cg.calls, 2);   /* batches of 3 */
    assert_int_equal(r.correct, 2);
    NEAR(r.em, 0.5);
    NEAR(r.em_stderr, 0.25);
    assert_int_equal(r.n_attrs, 3);
    assert_string_equal(r.attrs[0].name, "birth_city");
    assert_int_equal(r.attrs[0].n, 2);
    NEAR(r.attrs[0].em, 0.5);
    NEAR(r.attrs[0].em_stderr, 0.35355339);
    assert_string_equal(r.attrs[1].name, "birth_year");
    NEAR(r.attrs[1].em, 0.0);
    assert_string_equal(r.attrs[2].name, "university");
    NEAR(r.attrs[2].em, 1.0);
    assert_string_equal(r.predictions[0], " paris.");
    for (int i = 0; i < 4; i++) assert_int_equal(r.item_correct[i], i % 2 == 0);
    /* the prompt: <|user|> "\nWhere was Ann born?\n" <|assistant|> "\n" */
    const char *q = "\nWhere was Ann born?\n";
    int nq = (int)strlen(q);
    assert_int_equal(cg.n_prompt, nq + 3);
    assert_int_equal(cg.prompt[0], tokenizer_special(tok, SPECIAL_USER));
    for (int i = 0; i < nq; i++) assert_int_equal(cg.prompt[1 + i], q[i]);
    assert_int_equal(cg.prompt[nq + 1], tokenizer_special(tok, SPECIAL_ASSISTANT));
    assert_int_equal(cg.prompt[nq + 2], '\n');
    qa_result_free(&r);

    /* a length limit cuts the reply: "MIT \n" at 2 tokens is "MI" */
    cg.next = 0;
    cg.calls = 0;
    assert_int_equal(qa_evaluate(&t, tok, &g, 2, 3, &r, NULL, &e), 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.predictions[2], "MI");
    assert_int_equal(r.correct, 0);
    qa_result_free(&r);
    task_free(&t);
    tokenizer_free(tok);
}

/* The reference answer after the prompt, teacher forced: with the fake
 * scorer (log p = -0.1 (tok % 10), -1 more after a space) and E the
 * <|endoftext|> id, "Paris" scores P 0, a -0.7, r -0.4, i -0.5, s -0.5,
 * <|endoftext|> -0.1 (E % 10), over 6 tokens; spaced, " Paris" adds ' ' -0.2
 * and P pays -1 after the space: over 7 tokens. "1984": -0.9 -0.7 -0.6 -0.2
 * and the end token, over 5. */
static void answer_logprob_is_the_mean_over_answer_tokens_by_hand(void **state)
{
    (void)state;
    Tokenizer *tok = byte_tokenizer();
    Task t;
    Err e;
    const char *qa =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Where was Ann born?\"}],\"answer\":\"Paris\"}\n"
        "{\"messages\":[{\"role\":\"user\",\"content\":\"When was Bo born?\"}],\"answer\":\"1984\"}\n";
    assert_int_equal(task_parse(&t, "qa.jsonl", qa, &e), 0);
    double eot = 0.1 * (tokenizer_special(tok, SPECIAL_ENDOFTEXT) % 10);
    double plain[2] = {(-2.1 - eot) / 6, (-2.4 - eot) / 5}, spaced0 = (-3.3 - eot) / 7;
    for (int rows = 1; rows <= 16; rows += 15) {
        int calls = 0;
        TokenScorer s = {&calls, rows, 64, fake_token_logprobs};
        double score[2], mean, se;
        assert_int_equal(qa_answer_logprob(&t, tok, &s, 0, 0, score, &mean, &se, NULL, &e), 0);
        NEAR(score[0], plain[0]);
        NEAR(score[1], plain[1]);
        NEAR(mean, (plain[0] + plain[1]) / 2);
        NEAR(se, fabs(plain[0] - plain[1]) / 2);   /* sd |a-b|/sqrt(2), over sqrt(2) */
        assert_int_equal(calls, rows == 1 ? 2 : 1);
        assert_int_equal(qa_answer_logprob(&t, tok, &s, 1, 1, score, &mean, &se, NULL, &e), 0);
        NEAR(score[0], spaced0);
    }
    /* a window of 9 tokens cuts the prompt from the left but keeps the
     * answer and the "\n" before it: the same score; 7 cannot hold both */
    int calls = 0;
    TokenScorer s = {&calls, 4, 9, fake_token_logprobs};
    double score[2], mean, se;
    assert_int_equal(qa_answer_logprob(&t, tok, &s, 1, 0, score, &mean, &se, NULL, &e), 0);
    NEAR(score[0], plain[0]);
    s.max_tokens = 7;
    assert_int_equal(qa_answer_logprob(&t, tok, &s, 1, 0, score, &mean, &se, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "qa.jsonl: item 1: the answer is"));
    task_free(&t);
    tokenizer_free(tok);
}

/* log p = -0.01 * target token: the loss of a window is 0.01 * its mean target. */
static int target_valued_logprobs(void *ctx, const int *const *seqs, const int *lens, int n_rows,
                                  float *lp, int stride, Err *e)
{
    (void)ctx;
    (void)e;
    for (int r = 0; r < n_rows; r++)
        for (int j = 0; j + 1 < lens[r]; j++) lp[(size_t)r * stride + j] = -0.01f * (float)seqs[r][j + 1];
    return 0;
}

static void loss_uses_non_overlapping_windows_masks_and_window_stderr(void **state)
{
    (void)state;
    uint16_t tok[12];
    for (int i = 0; i < 12; i++) tok[i] = (uint16_t)i;
    LossResult r;
    Err e;
    for (int rows = 1; rows <= 4; rows += 3) {
        /* T = 3: windows [0..3] [3..6] [6..9] predict 1-3, 4-6, 7-9: losses .02 .05 .08 */
        TokenScorer s = {NULL, rows, 4, target_valued_logprobs};
        assert_int_equal(loss_evaluate(tok, NULL, 10, LOADER_STREAM, &s, &r, NULL, &e), 0);
        assert_int_equal(r.n_windows, 3);
        assert_int_equal(r.n_scored, 9);
        NEAR(r.mean_loss, 0.05);
        NEAR(r.mean_stderr, 0.017320508);   /* sd .03 / sqrt 3 */
        /* 12 tokens: the tail [9..11] is shorter than a window and not scored */
        assert_int_equal(loss_evaluate(tok, NULL, 12, LOADER_STREAM, &s, &r, NULL, &e), 0);
        assert_int_equal(r.n_windows, 3);
        NEAR(r.mean_loss, 0.05);
        /* mask even targets: windows count {2}, {4,6}, {8}: .02 .05 .08 weighted 1 2 1 */
        uint16_t mask[10];
        for (int i = 0; i < 10; i++) mask[i] = i % 2 == 0;
        assert_int_equal(loss_evaluate(tok, mask, 10, LOADER_STREAM, &s, &r, NULL, &e), 0);
        assert_int_equal(r.n_scored, 4);
        NEAR(r.mean_loss, 0.05);
        NEAR(r.mean_stderr, 0.012990381);
        /* only token 0 counted: it is never a target */
        memset(mask, 0, sizeof mask);
        mask[0] = 1;
        assert_int_equal(loss_evaluate(tok, mask, 10, LOADER_STREAM, &s, &r, NULL, &e), -1);
        assert_int_equal(loss_evaluate(tok, NULL, 3, LOADER_STREAM, &s, &r, NULL, &e), -1);
        assert_non_null(strstr(e.msg, "fewer than one window"));
        /* rows of T + 1 = 4 (SFT packing): [0..3] [4..7] [8..11] predict 1-3,
         * 5-7, 9-11: losses .02 .06 .10, sd .04 / sqrt 3 */
        assert_int_equal(loss_evaluate(tok, NULL, 12, LOADER_ROWS, &s, &r, NULL, &e), 0);
        assert_int_equal(r.n_windows, 3);
        assert_int_equal(r.n_scored, 9);
        NEAR(r.mean_loss, 0.06);
        NEAR(r.mean_stderr, 0.023094011);
        assert_int_equal(loss_evaluate(tok, NULL, 10, LOADER_ROWS, &s, &r, NULL, &e), -1);
        assert_non_null(strstr(e.msg, "not whole rows of 4"));
    }
}

/* ---- a real model ---------------------------------------------------------- */

static void nano_config(Config *c, int vocab)
{
    Err e;
    assert_int_equal(config_preset(c, "nano", &e), 0);
    c->vocab_size = vocab;
}

static void cached_decoding_matches_full_forward_logits(void **state)
{
    (void)state;
    Config c;
    nano_config(&c, 300);
    Model m;
    Err e;
    omp_set_num_threads(2);   /* kernels and BLAS with two threads, as the CLI runs */
    assert_int_equal(model_create(&m, &c, 1, c.seq_len, &e), 0);
    model_init_weights(&m, 5);
    enum { N = 40 };
    int tok[N];
    Rng r = rng_stream(9, 1);
    for (int i = 0; i < N; i++) tok[i] = (int)rng_below(&r, 300);
    model_forward(&m, tok, NULL, NULL, 1, N);
    float *full = xmalloc((size_t)N * 300 * sizeof(float));
    memcpy(full, model_logits(&m), (size_t)N * 300 * sizeof(float));

    Decoder d;
    assert_int_equal(decoder_create(&d, &m, 1, c.seq_len, &e), 0);
    /* prefill 13 tokens in one chunk, then a chunk of 5, then one at a time */
    double worst = 0;
    int at = 0;
    int chunks[] = {13, 5};
    for (int k = 0; at < N; k++) {
        int n = k < 2 ? chunks[k] : 1;
        const float *lg = decoder_forward(&d, tok + at, n);
        at += n;
        for (int v = 0; v < 300; v++) {
            double diff = fabs(lg[v] - full[(size_t)(at - 1) * 300 + v]);
            if (diff > worst) worst = diff;
        }
        assert_int_equal(argmax(lg, 300), argmax(full + (size_t)(at - 1) * 300, 300));
    }
    assert_int_equal(d.pos[0], N);
    assert_true(worst < 1e-4);
    decoder_reset(&d);
    const float *lg = decoder_forward(&d, tok, 1);
    for (int v = 0; v < 300; v++) assert_true(fabs(lg[v] - full[v]) < 1e-4);
    decoder_free(&d);

    /* three slots in one pass: slot 1 holds the sequence, slots 0 and 2 others
     * (with a different length); slot 1's logits are still the full forward's */
    assert_int_equal(decoder_create(&d, &m, 3, c.seq_len, &e), 0);
    int other[N];
    for (int i = 0; i < N; i++) other[i] = (tok[i] * 7 + 3) % 300;
    int s0[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0}, s2[4] = {2, 2, 2, 2}, s1[13];
    for (int i = 0; i < 13; i++) s1[i] = 1;
    decoder_step(&d, s0, other, 9);
    decoder_step(&d, s1, tok, 13);
    decoder_step(&d, s2, other + 9, 4);
    worst = 0;
    for (int t = 13; t < N; t++) {
        int slots[3] = {2, 1, 0}, rows[3] = {other[t % 30], tok[t], other[(t + 5) % 30]};
        lg = decoder_step(&d, slots, rows, 3);
        for (int v = 0; v < 300; v++) {
            double diff = fabs(lg[300 + v] - full[(size_t)t * 300 + v]);
            if (diff > worst) worst = diff;
        }
    }
    assert_int_equal(d.pos[0], 9 + N - 13);
    assert_int_equal(d.pos[1], N);
    assert_true(worst < 1e-4);
    decoder_free(&d);
    free(full);
    model_free(&m);
    omp_set_num_threads(1);
}

static void stream_loss_of_a_model_is_its_training_loss_on_the_same_windows(void **state)
{
    (void)state;
    Config c;
    nano_config(&c, 300);
    Model m;
    Err e;
    assert_int_equal(model_create(&m, &c, 3, 16, &e), 0);
    model_init_weights(&m, 3);
    /* 50 tokens, T = 16: windows [0..16] [16..32] [32..48]; token 49 unused */
    uint16_t tok[50];
    int in[48], tg[48];
    Rng r = rng_stream(4, 1);
    for (int i = 0; i < 50; i++) tok[i] = (uint16_t)rng_below(&r, 300);
    for (int w = 0; w < 3; w++)
        for (int t = 0; t < 16; t++) {
            in[w * 16 + t] = tok[w * 16 + t];
            tg[w * 16 + t] = tok[w * 16 + t + 1];
        }
    double want = model_forward(&m, in, tg, NULL, 3, 16);
    LossResult l;
    assert_int_equal(eval_stream_loss(&m, tok, 50, 2, 16, &l, &e), 0);   /* batches of 2 and 1 */
    assert_int_equal(l.n_windows, 3);
    assert_int_equal(l.n_scored, 48);
    assert_true(fabs(l.mean_loss - want) < 1e-5);
    assert_true(l.mean_stderr > 0);
    tok[7] = 300;
    assert_int_equal(eval_stream_loss(&m, tok, 50, 2, 16, &l, &e), -1);
    assert_non_null(strstr(e.msg, "position 7"));
    model_free(&m);
}

static const char *QA_PAIRS[][3] = {
    {"Where was Ann Rowe born?", "Paris", "birth_city"},
    {"Where was Bo Lind born?", "Lima", "birth_city"},
    {"What did Cy Marsh study?", "Law", "major"},
    {"What did Di Pratt study?", "Music history", "major"},
    {"Who employs Ed Stone?", "Acme Corp", "employer"},
    {"Who employs Flo Quill?", "Orbit Labs", "employer"},
};
#define N_PAIRS 6

static char *qa_jsonl(void)
{
    char *out = xmalloc(4096);
    size_t k = 0;
    for (int i = 0; i < N_PAIRS; i++)
        k += (size_t)snprintf(out + k, 4096 - k,
                              "{\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}],\"answer\":\"%s\","
                              "\"attribute\":\"%s\"}\n", QA_PAIRS[i][0], QA_PAIRS[i][1], QA_PAIRS[i][2]);
    return out;
}

/* Fine-tunes a nano model on the QA pairs in the chat format (loss on the
 * answer and <|endoftext|> only), with model_forward/backward + AdamW. */
static void finetune_on_pairs(Model *m, Tokenizer *tok, const Task *t, int steps)
{
    int T = m->max_T, B = t->n_items;
    int *in = xcalloc((size_t)B * T, sizeof(int)), *tg = xcalloc((size_t)B * T, sizeof(int));
    float *mask = xcalloc((size_t)B * T, sizeof(float));
    Err e;
    for (int b = 0; b < B; b++) {
        /* the item's conversation plus the reference as the assistant's reply,
         * encoded and masked exactly as SFT data (data/chat.h) */
        const QaItem *it = &t->qa[b];
        ChatMessage msgs[8];
        assert_true(it->conv.n_messages < 8);
        memcpy(msgs, it->conv.messages, (size_t)it->conv.n_messages * sizeof *msgs);
        msgs[it->conv.n_messages] = (ChatMessage){CHAT_ASSISTANT, it->answer};
        ChatConversation conv = {msgs, it->conv.n_messages + 1};
        int *ids = NULL;
        uint8_t *m8 = NULL;
        size_t n = 0, cap = 0;
        assert_int_equal(chat_encode(tok, &conv, &ids, &m8, &n, &cap, &e), 0);
        n--;   /* the "\n" after <|endoftext|> is never a target that counts */
        assert_int_equal(ids[n - 1], tokenizer_special(tok, SPECIAL_ENDOFTEXT));
        assert_true((int)n <= T + 1);
        for (size_t j = 0; j + 1 < n; j++) {
            in[b * T + (int)j] = ids[j];
            tg[b * T + (int)j] = ids[j + 1];
            mask[b * T + (int)j] = m8[j + 1];
        }
        free(ids);
        free(m8);
    }
    AdamWConfig ac = adamw_defaults();
    ac.weight_decay = 0;
    AdamW opt;
    adamw_create(&opt, &ac, &m->table);
    for (int s = 0; s < steps; s++) {
        model_zero_grad(m);
        model_forward(m, in, tg, mask, B, T);
        model_backward(m, 1.0f);
        adamw_step(&opt, m->params, m->grads, 1e-2f);
    }
    adamw_free(&opt);
    free(in);
    free(tg);
    free(mask);
}

static Tokenizer *qa_tokenizer(void)
{
    char text[2048];
    size_t k = 0;
    for (int i = 0; i < N_PAIRS; i++)
        k += (size_t)snprintf(text + k, sizeof text - k, "%s %s\n", QA_PAIRS[i][0], QA_PAIRS[i][1]);
    Tokenizer *tok;
    Err e;
    if (tokenizer_train(&tok, text, k, 320, &e)) fail_msg("%s", e.msg);
    return tok;
}

static void finetuned_nano_answers_its_pairs_and_cache_changes_nothing(void **state)
{
    (void)state;
    Tokenizer *tok = qa_tokenizer();
    char *jsonl = qa_jsonl();
    Task t;
    Err e;
    assert_int_equal(task_parse(&t, "pairs.jsonl", jsonl, &e), 0);
    Config c;
    nano_config(&c, tokenizer_vocab_size(tok));
    Model m;
    assert_int_equal(model_create(&m, &c, N_PAIRS, c.seq_len, &e), 0);
    model_init_weights(&m, 1);
    finetune_on_pairs(&m, tok, &t, 300);

    LmGenerator cached, single, full;
    assert_int_equal(lm_generator_init(&cached, &m, 4, 1, &e), 0);   /* batches of 4, 2 */
    assert_int_equal(lm_generator_init(&single, &m, 1, 1, &e), 0);
    assert_int_equal(lm_generator_init(&full, &m, 1, 0, &e), 0);
    QaResult r;
    assert_int_equal(qa_evaluate(&t, tok, &cached.gen, 16, 0, &r, NULL, &e), 0);
    for (int i = 0; i < N_PAIRS; i++)
        if (strcmp(r.predictions[i], QA_PAIRS[i][1]) != 0)
            fail_msg("pair %d: generated \"%s\", expected \"%s\"", i, r.predictions[i], QA_PAIRS[i][1]);
    NEAR(r.em, 1.0);
    NEAR(r.em_stderr, 0.0);
    assert_int_equal(r.n_attrs, 3);
    qa_result_free(&r);

    /* the same tokens with the cache (a batch of all six prompts, of
     * different lengths, and one at a time) and without it, also past the
     * end token (stop -1 never matches: 24 tokens of free-running generation) */
    int *prompts[N_PAIRS], n_prompts[N_PAIRS], max_new[N_PAIRS], a[N_PAIRS][24], b[24], n_a[N_PAIRS], n_b;
    int *outs[N_PAIRS];
    for (int i = 0; i < N_PAIRS; i++) {
        size_t n = 0, cap = 0;
        prompts[i] = NULL;
        assert_int_equal(qa_prompt_tokens(tok, &t.qa[i], &prompts[i], &n, &cap, &e), 0);
        n_prompts[i] = (int)n;
        max_new[i] = 24;
        outs[i] = a[i];
    }
    LmGenerator wide;
    assert_int_equal(lm_generator_init(&wide, &m, N_PAIRS, 1, &e), 0);
    assert_int_equal(wide.gen.generate(&wide, (const int *const *)prompts, n_prompts, N_PAIRS, max_new, -1, outs, n_a, &e), 0);
    lm_generator_free(&wide);
    for (int i = 0; i < N_PAIRS; i++) {
        int *ob = b;
        assert_int_equal(n_a[i], 24);
        assert_int_equal(full.gen.generate(&full, (const int *const *)&prompts[i], &n_prompts[i], 1, max_new, -1, &ob, &n_b, &e), 0);
        assert_int_equal(n_b, 24);
        assert_memory_equal(a[i], b, sizeof b);
        assert_int_equal(single.gen.generate(&single, (const int *const *)&prompts[i], &n_prompts[i], 1, max_new, -1, &ob, &n_b, &e), 0);
        assert_memory_equal(a[i], b, sizeof b);
        free(prompts[i]);
    }
    lm_generator_free(&single);
    lm_generator_free(&cached);
    lm_generator_free(&full);
    model_free(&m);
    task_free(&t);
    free(jsonl);
    tokenizer_free(tok);
}

static uint64_t dir_checksum(const char *dir)
{
    static const char *files[] = {"model.safetensors", "config.json", "lineage.json", "checksums.json"};
    Checksum c;
    checksum_init(&c);
    for (int i = 0; i < 4; i++) {
        char path[4096], *data;
        size_t bytes;
        Err e;
        path_join(path, sizeof path, dir, files[i]);
        if (read_file(path, &data, &bytes, &e)) fail_msg("%s", e.msg);
        checksum_update(&c, data, bytes);
        free(data);
    }
    return checksum_final(&c);
}

/* Loads the checkpoint as `plateau eval` does and runs the pt and sft suites. */
static char *evaluate_checkpoint(const char *ckpt, const Tokenizer *tok, const char *mc_file, const char *qa_file)
{
    Config c;
    Err e;
    Model m;
    Lineage lin;
    if (checkpoint_read_config(ckpt, &c, &e) || model_create(&m, &c, 4, c.seq_len, &e) ||
        checkpoint_load(ckpt, &c, m.params, NULL, NULL, &lin, &e))
        fail_msg("%s", e.msg);
    EvalReport pt, sft;
    EvalOptions opt;
    eval_options_default(&opt, "pt");
    opt.tasks = &mc_file;
    opt.n_tasks = 1;
    opt.batch = 4;
    if (eval_model(&pt, &m, tok, &opt, &e)) fail_msg("%s", e.msg);
    opt.suite = "sft";
    opt.tasks = &qa_file;
    opt.max_new = 16;
    if (eval_model(&sft, &m, tok, &opt, &e)) fail_msg("%s", e.msg);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", lin.id);
    cJSON_AddItemToObject(o, "pt", eval_report_json(&pt));
    cJSON_AddItemToObject(o, "sft", eval_report_json(&sft));
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    eval_report_free(&pt);
    eval_report_free(&sft);
    model_free(&m);
    return text;
}

static void evaluating_a_checkpoint_twice_is_identical_and_leaves_it_untouched(void **state)
{
    (void)state;
    char dir[] = "/tmp/plateau_test_eval_XXXXXX";
    assert_non_null(mkdtemp(dir));
    Tokenizer *tok = qa_tokenizer();
    char *jsonl = qa_jsonl();
    Task t;
    Err e;
    assert_int_equal(task_parse(&t, "pairs.jsonl", jsonl, &e), 0);
    Config c;
    nano_config(&c, tokenizer_vocab_size(tok));
    Model m;
    assert_int_equal(model_create(&m, &c, N_PAIRS, c.seq_len, &e), 0);
    model_init_weights(&m, 2);
    finetune_on_pairs(&m, tok, &t, 60);   /* part-trained: some answers right, some wrong */
    char ckpt[4200], qa_file[4200], mc_file[4200];
    path_join(ckpt, sizeof ckpt, dir, "ckpt");
    path_join(qa_file, sizeof qa_file, dir, "eval_qa_pairs.jsonl");
    path_join(mc_file, sizeof mc_file, dir, "eval_mc_pairs.jsonl");
    Lineage lin;
    memset(&lin, 0, sizeof lin);
    snprintf(lin.stage, sizeof lin.stage, "sft");
    lin.seq_len = c.seq_len;
    assert_int_equal(checkpoint_save(ckpt, &c, m.params, NULL, &lin, &e), 0);
    assert_int_equal(write_file_atomic(qa_file, jsonl, strlen(jsonl), &e), 0);
    const char *mc = "{\"context\":\"Ann Rowe was born in\",\"choices\":[\" Paris\",\" Lima\"],\"answer\":0}\n"
                     "{\"context\":\"Cy Marsh studied\",\"choices\":[\" Law\",\" Music history\"],\"answer\":0}\n"
                     "{\"context\":\"Ed Stone works for\",\"choices\":[\" Orbit Labs\",\" Acme Corp\"],\"answer\":1}\n";
    assert_int_equal(write_file_atomic(mc_file, mc, strlen(mc), &e), 0);

    uint64_t before = dir_checksum(ckpt);
    progress_quiet(1);
    char *a = evaluate_checkpoint(ckpt, tok, mc_file, qa_file);
    char *b = evaluate_checkpoint(ckpt, tok, mc_file, qa_file);
    progress_quiet(0);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "\"exact_match\""));
    assert_non_null(strstr(a, "\"acc_norm\""));
    assert_int_equal(dir_checksum(ckpt), before);
    assert_int_equal(checkpoint_verify(ckpt, &e), 0);
    free(a);
    free(b);
    model_free(&m);
    task_free(&t);
    free(jsonl);
    tokenizer_free(tok);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(task_parse_reads_both_kinds_and_skips_blank_lines),
        cmocka_unit_test(task_parse_errors_name_file_line_and_problem),
        cmocka_unit_test(stderr_of_accuracy_is_binomial_with_divisor_n),
        cmocka_unit_test(stderr_of_loss_is_sample_sd_over_sqrt_n_or_weighted_ratio),
        cmocka_unit_test(mc_scores_match_hand_computed_loglik_acc_and_acc_norm),
        cmocka_unit_test(task_sample_keeps_a_seeded_subset_in_file_order),
        cmocka_unit_test(mc_request_splits_joint_encoding_and_truncates_from_the_left),
        cmocka_unit_test(mc_merges_across_the_boundary_fall_back_and_are_counted),
        cmocka_unit_test(answer_normalisation_trims_lowercases_and_strips_final_period),
        cmocka_unit_test(exact_match_and_attribute_breakdown_are_counted_by_hand),
        cmocka_unit_test(answer_logprob_is_the_mean_over_answer_tokens_by_hand),
        cmocka_unit_test(loss_uses_non_overlapping_windows_masks_and_window_stderr),
        cmocka_unit_test(cached_decoding_matches_full_forward_logits),
        cmocka_unit_test(stream_loss_of_a_model_is_its_training_loss_on_the_same_windows),
        cmocka_unit_test(finetuned_nano_answers_its_pairs_and_cache_changes_nothing),
        cmocka_unit_test(evaluating_a_checkpoint_twice_is_identical_and_leaves_it_untouched),
    };
    /* nano-sized products gain nothing from threads, and on a busy machine
     * spinning OpenMP workers cost seconds; the decoder test uses two. */
    omp_set_num_threads(1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
