/* The command line as a new user meets it: bad input gets one clear error
 * naming the option, file or field and what was expected; output that
 * claims to be JSON is JSON; help says what the command does. Runs
 * ./plateau (or $PLATEAU_BIN) on a tiny world and a nano checkpoint made
 * once in setup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "model/config.h"
#include "support/checkpoint_files.h"
#include "support/plateau_cli.h"
#include "train/adamw.h"
#include "train/checkpoint.h"

static char g_root[256];
static char g_world[512], g_tok[512], g_shard[512], g_run[512], g_ckpt[1024];

static void path_in(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", g_root, name); }

/* Expects exit status `rc` and `want` in the output. */
static void expect(const char *const *args, int rc, const char *want)
{
    char out[16384];
    int got = cli_run(args, out, sizeof out);
    if (got != rc || (want && !strstr(out, want)))
        fail_msg("plateau %s %s ...: exit %d (expected %d), output:\n%s\n(expected to contain \"%s\")", args[0],
                 args[1] ? args[1] : "", got, rc, out, want ? want : "");
}

/* A world of 40 people, a 300-token tokenizer, its shard and a nano run of
 * 4 steps with checkpoints at 2 and 4. */
static int setup(void **state)
{
    (void)state;
    if (cli_setup("cli", g_root, sizeof g_root)) return -1;
    path_in(g_world, sizeof g_world, "world");
    path_in(g_tok, sizeof g_tok, "tok.json");
    path_in(g_shard, sizeof g_shard, "shards/pretrain_000000.bin");
    path_in(g_run, sizeof g_run, "run");
    char text[600], shards[512];
    snprintf(text, sizeof text, "%s/pretrain.txt", g_world);
    path_in(shards, sizeof shards, "shards");
    const char *world[] = {"data", "bios", "--out", g_world, "--people", "40", NULL};
    const char *tok[] = {"tokenizer", "train", "--vocab", "300", "--out", g_tok, text, NULL};
    const char *tokenize[] = {"data", "tokenize", "--tokenizer", g_tok, "--out", shards, text, NULL};
    const char *train[] = {"train", "--preset", "nano", "--vocab", "300", "--tokenizer", g_tok, "--data", g_shard,
                           "--steps", "4", "--ckpt-every", "2", "--micro-batch", "2", "--seq-len", "32", "--out",
                           g_run, "--quiet", "--log-every", "0", NULL};
    if (cli_run(world, NULL, 0) || cli_run(tok, NULL, 0) || cli_run(tokenize, NULL, 0) || cli_run(train, NULL, 0))
        return -1;
    checkpoint_step_path(g_ckpt, sizeof g_ckpt, g_run, 4);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return cli_teardown();
}

/* A copy of checkpoint src at dst whose weights hold a NaN and an infinity,
 * as a run that diverged before plateau stopped such runs wrote them. */
static void write_nan_checkpoint(const char *src, const char *dst)
{
    Lineage lin;
    AdamW opt;
    size_t n;
    Config cfg;
    Err e;
    float *w = checkpoint_files_load(src, &lin, &opt, &n);
    assert_int_equal(checkpoint_read_config(src, &cfg, &e), 0);
    for (size_t i = 0; i < n; i += 2) w[i] = i % 4 ? NAN : INFINITY;
    path_join(lin.tokenizer, sizeof lin.tokenizer, src, "tokenizer.json");
    if (checkpoint_save(dst, &cfg, w, &opt, &lin, &e)) fail_msg("%s", e.msg);
    free(w);
    adamw_free(&opt);
}

/* generate --json prints one JSON object (what its help lists) even when
 * the model's log-probabilities are not numbers: those are null. */
static void generate_json_is_json_even_for_a_nan_model(void **state)
{
    (void)state;
    char nan_ckpt[512], out[16384];
    path_in(nan_ckpt, sizeof nan_ckpt, "nan-ckpt");
    write_nan_checkpoint(g_ckpt, nan_ckpt);
    const char *gen[] = {"generate", "--ckpt", nan_ckpt, "--prompt", "Alice", "--max-new", "3", "--no-stop",
                         "--json", NULL};
    assert_int_equal(cli_run(gen, out, sizeof out), 0);
    cJSON *j = cJSON_Parse(out);
    if (!j) fail_msg("not JSON:\n%s", out);
    cJSON *lp = cJSON_GetObjectItem(j, "logprobs");
    assert_int_equal(cJSON_GetArraySize(lp), 3);
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(lp, 0)));
    assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "text")));
    cJSON_Delete(j);
    /* a sound model: numbers, and the text its help promises */
    const char *good[] = {"generate", "--ckpt", g_run, "--prompt", "Alice", "--max-new", "3", "--json", NULL};
    assert_int_equal(cli_run(good, out, sizeof out), 0);
    j = cJSON_Parse(out);
    if (!j) fail_msg("not JSON:\n%s", out);
    assert_true(cJSON_IsNumber(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "logprobs"), 0)));
    assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "text")));
    cJSON_Delete(j);
}

/* nano's context is 32 tokens here: the default --max-new of 64 would not
 * fit, so it becomes what the context leaves; a larger explicit one is
 * clamped with a note; a prompt that fills the context is refused saying
 * so; an empty plain prompt continues <|endoftext|> alone. */
static void generate_fits_the_context(void **state)
{
    (void)state;
    char out[16384];
    const char *dflt[] = {"generate", "--ckpt", g_run, "--prompt", "Alice", "--no-stop", "--json", NULL};
    assert_int_equal(cli_run(dflt, out, sizeof out), 0);
    cJSON *j = cJSON_Parse(out);
    if (!j) fail_msg("not JSON:\n%s", out);
    int n_prompt = cJSON_GetArraySize(cJSON_GetObjectItem(j, "prompt_ids"));
    assert_int_equal(n_prompt + cJSON_GetArraySize(cJSON_GetObjectItem(j, "ids")), 32);
    cJSON_Delete(j);
    const char *big[] = {"generate", "--ckpt", g_run, "--prompt", "Alice", "--max-new", "100", NULL};
    expect(big, 0, "--max-new 100: the model's context of 32 leaves");
    char long_prompt[400] = "";
    for (int i = 0; i < 40; i++) strcat(long_prompt, "Alice ");
    const char *full[] = {"generate", "--ckpt", g_run, "--prompt", long_prompt, NULL};
    expect(full, 1, "fill the model's context of 32: nothing is left to generate");
    const char *empty[] = {"generate", "--ckpt", g_run, "--prompt", "", "--max-new", "2", NULL};
    expect(empty, 0, "empty prompt: continuing <|endoftext|> alone");
}

/* Every numeric option is range-checked by one table, with an error that
 * names the option and the accepted range, before anything is trained or
 * allocated (a usage error: exit 2); a sequence length the data cannot fill
 * one micro-batch of is refused from the shard headers, before gigabytes of
 * buffers (the data's error: exit 1). */
static void numeric_options_are_range_checked(void **state)
{
    (void)state;
    char run_dir[512];
    path_in(run_dir, sizeof run_dir, "range");
    static const struct {
        const char *opt, *value, *want;
        int         rc;
    } BAD[] = {
        {"--seq-len", "0", "--seq-len: expected an integer >= 1, got '0'", 2},
        {"--seq-len", "-5", "--seq-len: expected an integer >= 1, got '-5'", 2},
        {"--clip", "-1", "--clip: expected a number >= 0, got '-1'", 2},
        {"--weight-decay", "-1", "--weight-decay: expected a number >= 0, got '-1'", 2},
        {"--lr", "nan", "--lr: expected a finite number, got 'nan'", 2},
        {"--alpha", "1.5", "--alpha: expected a number in [0, 1], got '1.5'", 2},
        {"--seq-len", "99999999999", "--seq-len: expected an integer >= 1, at most 2147483647; got '99999999999'", 2},
        /* the shard holds fewer than 8 windows of 70001 tokens */
        {"--seq-len", "70000", "fewer than one micro-batch of 8; lower --seq-len or --micro-batch", 1},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        const char *train[] = {"train", "--preset", "nano", "--vocab", "300", "--data", g_shard, "--steps", "2",
                               "--out", run_dir, BAD[i].opt, BAD[i].value, NULL};
        expect(train, BAD[i].rc, BAD[i].want);
    }
    assert_false(file_exists(run_dir));
    const char *limit[] = {"eval", "--ckpt", g_run, "--suite", "loss", "--loss", g_shard, "--limit", "0", NULL};
    expect(limit, 2, "--limit: expected an integer >= 1, got '0'");
    const char *probes[] = {"sharpness", "--ckpt", g_run, "--data", g_shard, "--probes", "0", NULL};
    expect(probes, 2, "--probes: expected an integer >= 1, got '0'");
    const char *peak[] = {"schedule", "--peak", "-3e-4", NULL};
    expect(peak, 2, "--peak: expected a number > 0, got '-3e-4'");
}

/* sharpness --json - writes the JSON to stdout (the summary line to stderr)
 * and no file named "-"; --precond-eig at a checkpoint whose LR is 0 (the
 * end of a WSD decay to 0) is unresolved, saying why, and its JSON carries
 * the LR and the threshold (null: infinite). */
static void sharpness_json_to_stdout_and_precond_verdicts(void **state)
{
    (void)state;
    char run_dir[512], out[16384];
    path_in(run_dir, sizeof run_dir, "decayed");
    const char *train[] = {"train", "--init", g_ckpt, "--data", g_shard, "--steps", "12", "--schedule", "wsd",
                           "--warmup", "2", "--alpha", "0", "--stage", "pretrain", "--micro-batch", "2", "--out",
                           run_dir, "--quiet", "--log-every", "0", NULL};
    cli_run_ok(train);
    int dash_before = access("-", F_OK) == 0;   /* the children run in this directory */
    const char *sharp[] = {"sharpness", "--ckpt", run_dir, "--data", g_shard, "--probes", "2", "--precond-eig",
                           "--eig-iters", "10", "--quiet", "--json", "-", NULL};
    assert_int_equal(cli_run(sharp, out, sizeof out), 0);
    if (!dash_before) assert_int_equal(access("-", F_OK), -1);
    const char *brace = out[0] == '{' ? out : strstr(out, "\n{");   /* stdout and stderr share the log */
    cJSON *j = brace ? cJSON_Parse(brace) : NULL;
    if (!j) fail_msg("no JSON object in:\n%s", out);
    cJSON *pe = cJSON_GetObjectItem(j, "precond_top_eigenvalue");
    assert_non_null(pe);
    assert_true(cJSON_GetObjectItem(pe, "lr")->valuedouble == 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(pe, "threshold")));
    assert_string_equal(cJSON_GetObjectItem(pe, "status")->valuestring, "unresolved");
    cJSON_Delete(j);
    assert_non_null(strstr(out, "unresolved: the checkpoint's LR is 0"));
    assert_null(strstr(out, "inf at lr 0"));
}

/* sharpness --data pt finds the held-out shard where a study keeps it:
 * --tok as the study's data folder, its tokenizer.json or the study's
 * folder; a folder without one names the files it looked for; a folder
 * whose tokenizer is not the checkpoint's is refused. */
static void sharpness_finds_the_held_out_shard_of_a_study_folder(void **state)
{
    (void)state;
    char study[512], data[600], link[700], tok_json[700], shards[512], out[16384], want[1400];
    path_in(study, sizeof study, "study");
    snprintf(data, sizeof data, "%s/data", study);
    Err e;
    if (make_dirs(data, &e)) fail_msg("%s", e.msg);
    snprintf(link, sizeof link, "%s/pt_valid.bin", data);
    snprintf(tok_json, sizeof tok_json, "%s/tokenizer.json", data);
    assert_int_equal(symlink(g_shard, link), 0);
    assert_int_equal(symlink(g_tok, tok_json), 0);
    const char *const TOKS[] = {data, tok_json, study};
    for (size_t i = 0; i < sizeof TOKS / sizeof *TOKS; i++) {
        const char *sharp[] = {"sharpness", "--ckpt", g_run, "--data", "pt", "--tok", TOKS[i], "--probes", "2",
                               "--min-probes", "2", "--seq-len", "16", "--quiet", NULL};
        int rc = cli_run(sharp, out, sizeof out);
        snprintf(want, sizeof want, " on %s: Tr(H) = ", link);
        if (rc != 0 || !strstr(out, want)) fail_msg("--tok %s: exit %d, output:\n%s", TOKS[i], rc, out);
    }
    path_in(shards, sizeof shards, "shards");
    const char *none[] = {"sharpness", "--ckpt", g_run, "--data", "pt", "--tok", shards, NULL};
    snprintf(want, sizeof want, "plateau: --data pt: no held-out pre-training shard under --tok %s: expected "
             "pretrain_valid_000000.bin, pt_valid.bin or data/pt_valid.bin in %s (a folder of `plateau data "
             "tokenize` shards of pretrain_valid.txt, a study's data folder beside its tokenizer.json, or a study's "
             "folder), or give a token shard as --data FILE", shards, shards);
    expect(none, 1, want);
    const char *sft[] = {"sharpness", "--ckpt", g_run, "--data", "sft", "--tok", tok_json, NULL};
    snprintf(want, sizeof want, "expected sft_valid.bin or data/sft_valid.bin in %s (", data);
    expect(sft, 1, want);

    /* another study's folder: its shard would be read with the wrong token ids */
    char other[512], other_link[600], other_tok[600], *text;
    size_t n;
    path_in(other, sizeof other, "other-study-data");
    snprintf(other_link, sizeof other_link, "%s/pt_valid.bin", other);
    snprintf(other_tok, sizeof other_tok, "%s/tokenizer.json", other);
    if (make_dirs(other, &e) || read_file(g_tok, &text, &n, &e)) fail_msg("%s", e.msg);
    assert_int_equal(symlink(g_shard, other_link), 0);
    text[n - 1] = text[n - 1] == ' ' ? '\n' : ' ';   /* one byte differs */
    if (write_file_atomic(other_tok, text, n, &e)) fail_msg("%s", e.msg);
    free(text);
    const char *foreign[] = {"sharpness", "--ckpt", g_run, "--data", "pt", "--tok", other, NULL};
    snprintf(want, sizeof want, "plateau: --tok: %s is not the tokenizer of checkpoint ", other_tok);
    expect(foreign, 1, want);
}

/* A nano run of 2 steps beside the setup's: other vocabulary, tokenizer or
 * schedule as the options say. */
static void train_other(const char *name, const char *vocab, const char *tok, const char *lr, char *dir, size_t size)
{
    path_in(dir, size, name);
    const char *train[] = {"train", "--preset", "nano", "--vocab", vocab, "--tokenizer", tok, "--data", g_shard,
                           "--steps", "2", "--lr", lr, "--micro-batch", "2", "--seq-len", "32", "--out", dir,
                           "--quiet", "--log-every", "0", NULL};
    cli_run_ok(train);
}

/* A merge refuses, before writing anything, a checkpoint given twice (also
 * as its run folder: the same id), a --weights given twice, and weights
 * that are not positive normal numbers, naming the option and the weight:
 * 1e-320 is subnormal and would sum to 1 with the other. */
static void merge_refuses_a_repeated_input_or_option_and_weights_that_merge_nothing(void **state)
{
    (void)state;
    char out_dir[512], step2[1024], step4[1024];
    checkpoint_step_path(step2, sizeof step2, g_run, 2);
    checkpoint_step_path(step4, sizeof step4, g_run, 4);
    path_in(out_dir, sizeof out_dir, "merged-refused");
    const char *twice[] = {"merge", step2, step2, "--out", out_dir, NULL};
    char want[3000];
    snprintf(want, sizeof want, "merge: %s and %s are the same checkpoint (id ", step2, step2);
    expect(twice, 1, want);
    const char *as_run[] = {"merge", step2, step4, g_run, "--out", out_dir, "--any-lineage", NULL};
    snprintf(want, sizeof want, "merge: %s and %s are the same checkpoint", step4, g_run);
    expect(as_run, 1, want);   /* g_run resolves to its latest checkpoint, step 4 */
    expect(as_run, 1, "give each checkpoint once");

    const char *weights_twice[] = {"merge", step2, step4, "--weights", "0.5,0.5", "--out", out_dir,
                                   "--weights=0.25,0.75", NULL};
    expect(weights_twice, 2, "plateau: option --weights given twice ('0.5,0.5' and '0.25,0.75'): give it once");

    const char *subnormal[] = {"merge", step2, step4, "--weights", "1e-320,1", "--out", out_dir, NULL};
    expect(subnormal, 2, "--weights: merge weights '1e-320,1': weight 1 ('1e-320') is not a positive normal number "
                         "(expected uniform, cosine, 1-sqrt or 2 comma-separated positive weights summing to 1)");
    static const char *const BAD[][2] = {
        {"0,1", "weight 1 ('0')"}, {"1.5,-0.5", "weight 2 ('-0.5')"},
        {"nan,1", "weight 1 ('nan')"}, {"0.5,inf", "weight 2 ('inf')"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        const char *bad[] = {"merge", step2, step4, "--weights", BAD[i][0], "--out", out_dir, NULL};
        snprintf(want, sizeof want, "%s is not a positive normal number", BAD[i][1]);
        expect(bad, 2, want);
    }
    assert_false(file_exists(out_dir));
}

/* merge takes a run directory as its latest checkpoint, and at least two
 * checkpoints; it refuses another shape or tokenizer always, and checkpoints
 * of unrelated runs unless --any-lineage. sft-change refuses the same
 * mismatches, and a --base that is not the SFT run's parent unless --force. */
static void merge_and_sft_change_check_what_they_combine(void **state)
{
    (void)state;
    char out_dir[512], step2[1024], shape[512], tok2[512], tok2_run[512], other[512], text[600], sft[512];
    checkpoint_step_path(step2, sizeof step2, g_run, 2);
    path_in(out_dir, sizeof out_dir, "merged");
    const char *two[] = {"merge", step2, g_run, "--out", out_dir, NULL};
    expect(two, 0, "merged 2 checkpoints into");
    path_in(out_dir, sizeof out_dir, "merged-one");
    const char *one[] = {"merge", g_run, "--out", out_dir, NULL};
    expect(one, 2, "plateau merge: a merge needs at least two checkpoints, got one, oldest first");
    assert_false(file_exists(out_dir));


    train_other("shape", "320", g_tok, "3e-4", shape, sizeof shape);
    path_in(out_dir, sizeof out_dir, "merged-shape");
    const char *by_shape[] = {"merge", step2, shape, "--out", out_dir, "--any-lineage", NULL};
    expect(by_shape, 1, "config.json: field vocab_size is 320, expected 300");

    path_in(tok2, sizeof tok2, "tok2.json");
    snprintf(text, sizeof text, "%s/mid.txt", g_world);
    const char *tok[] = {"tokenizer", "train", "--vocab", "290", "--out", tok2, text, NULL};
    cli_run_ok(tok);
    train_other("tok2-run", "300", tok2, "3e-4", tok2_run, sizeof tok2_run);
    const char *by_tok[] = {"merge", step2, tok2_run, "--out", out_dir, "--any-lineage", NULL};
    expect(by_tok, 1, "carry different tokenizers");

    train_other("other", "300", g_tok, "1e-3", other, sizeof other);
    const char *unrelated[] = {"merge", step2, other, "--out", out_dir, NULL};
    expect(unrelated, 1, "are not checkpoints of one run, or parent and child (their schedules differ); pass "
                         "--any-lineage");
    assert_false(file_exists(out_dir));
    const char *forced[] = {"merge", step2, other, "--out", out_dir, "--any-lineage", NULL};
    expect(forced, 0, "merged 2 checkpoints");

    path_in(sft, sizeof sft, "sft");
    const char *sft_train[] = {"train", "--init", step2, "--stage", "sft", "--data", g_shard, "--steps", "2",
                               "--micro-batch", "2", "--out", sft, "--quiet", "--log-every", "0", NULL};
    cli_run_ok(sft_train);
    const char *right[] = {"sft-change", "--base", step2, "--sft", sft, "--data", g_shard, NULL};
    expect(right, 0, "relative weight distance");
    const char *wrong[] = {"sft-change", "--base", other, "--sft", sft, "--data", g_shard, NULL};
    expect(wrong, 1, "is not the checkpoint --sft");
    const char *wrong_forced[] = {"sft-change", "--base", other, "--sft", sft, "--data", g_shard, "--force", NULL};
    expect(wrong_forced, 0, "warning: --base");
    const char *wrong_tok[] = {"sft-change", "--base", tok2_run, "--sft", sft, "--data", g_shard, "--force", NULL};
    expect(wrong_tok, 1, "carry different tokenizers");
    const char *wrong_shape[] = {"sft-change", "--base", shape, "--sft", sft, "--data", g_shard, "--force", NULL};
    expect(wrong_shape, 1, "field vocab_size is 300, expected 320");
}

/* export refuses an --out that exists (folder or file) and leaves it as it
 * was; a file that cannot be created is named as the user gave it, not as
 * the temporary plateau writes first. */
static void export_refuses_an_existing_out_and_errors_name_the_users_path(void **state)
{
    (void)state;
    char existing[512], keep[600], missing[512], out[16384];
    path_in(existing, sizeof existing, "existing");
    assert_int_equal(make_dirs(existing, &(Err){{0}}), 0);
    snprintf(keep, sizeof keep, "%s/keep.txt", existing);
    assert_int_equal(write_file_atomic(keep, "x", 1, &(Err){{0}}), 0);
    const char *hf[] = {"export", "--format", "hf", g_run, "--out", existing, NULL};
    expect(hf, 1, "already exists: give a new folder for the export (nothing was written)");
    const char *gguf[] = {"export", "--format", "gguf", g_run, "--out", existing, NULL};
    expect(gguf, 1, "already exists: give a new file name for the export");
    struct stat st;
    assert_int_equal(stat(keep, &st), 0);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/model.safetensors", existing);
    assert_false(file_exists(sub));

    path_in(missing, sizeof missing, "no-such-folder/model.gguf");
    const char *nowhere[] = {"export", "--format", "gguf", g_run, "--out", missing, NULL};
    assert_int_equal(cli_run(nowhere, out, sizeof out), 1);
    if (!strstr(out, missing) || strstr(out, ".tmp.")) fail_msg("message: %s", out);
}

/* Help and files say what the commands do: the top-level help lists every
 * study subcommand; train's help gives the checkpoint folder's real name;
 * schedule draws the mid stage train runs by default (alpha_mid 0);
 * config.json holds rms_norm_eps as 1e-05. */
static void help_and_files_match_what_the_commands_do(void **state)
{
    (void)state;
    const char *top[] = {"--help", NULL};
    expect(top, 0, "study plan|calibrate|run|report FILE");
    const char *train[] = {"train", "--help", NULL};
    expect(train, 0, "DIR/step-NNNNNNNN, the step in 8 digits");
    assert_non_null(strstr(g_ckpt, "/step-00000004"));   /* as train wrote it */
    assert_true(file_exists(g_ckpt));
    expect(train, 0, "--alpha-mid A            mid: final LR / the parent's final LR (default 0: decay to zero)");
    /* a flag that belongs to --estimate is refused before anything is printed */
    char out[4096];
    const char *plan_out[] = {"study", "plan", "no-such.ini", "--out", "x", NULL};
    assert_int_equal(cli_run(plan_out, out, sizeof out), 2);
    if (strcmp(out, "plateau study plan: --out and --jobs go with --estimate\n") != 0) fail_msg("got:\n%s", out);
    const char *sched[] = {"schedule", "--steps", "100", "--mid-steps", "20", NULL};
    expect(sched, 0, ",alpha=0\n");
    char cfg[1200], *text;
    size_t n;
    snprintf(cfg, sizeof cfg, "%s/config.json", g_ckpt);
    assert_int_equal(read_file(cfg, &text, &n, &(Err){{0}}), 0);
    if (!strstr(text, "\"rms_norm_eps\": 1e-05,") || !strstr(text, "\"rope_theta\": 10000,"))
        fail_msg("%s:\n%s", cfg, text);
    free(text);
}

/* One rule for exit statuses (cli/args.h): 2 for a command line that is
 * wrong by itself, in every command and subcommand alike; 1 when the command
 * was understood and its work failed. --help takes no value, wherever it is
 * read. */
static void usage_errors_exit_2_in_every_command_and_help_takes_no_value(void **state)
{
    (void)state;
    static const char *const COMMANDS[][3] = {
        {"model", "info", NULL},      {"init", NULL, NULL},          {"train", NULL, NULL},
        {"generate", NULL, NULL},     {"export", NULL, NULL},        {"eval", NULL, NULL},
        {"tokenizer", "train", NULL}, {"tokenizer", "encode", NULL}, {"data", "bios", NULL},
        {"data", "wordnet", NULL},    {"data", "sft", NULL},         {"data", "tokenize", NULL},
        {"data", "corpus", NULL},     {"sharpness", NULL, NULL},     {"merge", NULL, NULL},
        {"sft-change", NULL, NULL},   {"schedule", NULL, NULL},      {"study", "plan", NULL},
        {"study", "run", NULL},       {"study", "calibrate", NULL},  {"study", "report", NULL},
    };
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        const char *args[5] = {COMMANDS[i][0]};
        int n = 1;
        if (COMMANDS[i][1]) args[n++] = COMMANDS[i][1];
        args[n] = "--no-such-option";
        expect(args, 2, "plateau: unknown option --no-such-option (see --help)");
        args[n] = "--help=1";
        expect(args, 2, "plateau: option --help takes no value (give --help alone)");
        args[n] = "--help";
        expect(args, 0, "usage: plateau ");
    }
    /* the dispatchers read --help themselves */
    static const char *const DISPATCHERS[] = {"study", "data", "tokenizer", "model"};
    for (size_t i = 0; i < sizeof DISPATCHERS / sizeof DISPATCHERS[0]; i++) {
        const char *args[] = {DISPATCHERS[i], "--help=yes", NULL};
        expect(args, 2, "plateau: option --help takes no value (give --help alone)");
    }
    const char *top[] = {"--help=1", NULL};
    expect(top, 2, "plateau: option --help takes no value (give --help alone)");
    /* a missing required option, a malformed value, a flag with a value */
    const char *no_out[] = {"data", "bios", "--people", "10", NULL};
    expect(no_out, 2, "plateau: missing --out (see --help)");
    const char *bad_preset[] = {"model", "info", "--preset", "huge", NULL};
    expect(bad_preset, 2, "unknown model preset 'huge'");
    const char *flag_value[] = {"study", "run", "x.ini", "--quiet=yes", NULL};
    expect(flag_value, 2, "plateau: option --quiet takes no value");
    const char *bad_jobs[] = {"study", "plan", "x.ini", "--sft-steps", "ten", NULL};
    expect(bad_jobs, 2, "plateau: --sft-steps: expected an integer >= 0, got 'ten'");
    /* well formed, but the work fails: 1 */
    char missing[512];
    path_in(missing, sizeof missing, "no-such-checkpoint");
    const char *no_ckpt[] = {"eval", "--ckpt", missing, "--suite", "loss", "--loss", g_shard, NULL};
    expect(no_ckpt, 1, "no-such-checkpoint: neither a checkpoint");
    const char *long_window[] = {"eval", "--ckpt", g_run, "--suite", "loss", "--loss", g_shard, "--seq-len", "33", NULL};
    expect(long_window, 1, "--seq-len 33: the checkpoint's context is 32");
}

/* An empty path is refused by the option parser, naming the option, in every
 * command (before, `merge --out ""` merged and then failed to rename into
 * ""); so is an empty argument. A prompt may be empty. */
static void an_empty_path_is_refused_naming_the_option(void **state)
{
    (void)state;
    char step2[1024], step4[1024];
    checkpoint_step_path(step2, sizeof step2, g_run, 2);
    checkpoint_step_path(step4, sizeof step4, g_run, 4);
    const char *merge[] = {"merge", step2, step4, "--out", "", NULL};
    expect(merge, 2, "plateau: option --out: expected DIR, got an empty string");
    const char *merge_eq[] = {"merge", step2, step4, "--out=", NULL};
    expect(merge_eq, 2, "plateau: option --out: expected DIR, got an empty string");
    const char *bios[] = {"data", "bios", "--out", "", NULL};
    expect(bios, 2, "plateau: option --out: expected DIR, got an empty string");
    const char *study[] = {"study", "run", "x.ini", "--out", "", NULL};
    expect(study, 2, "plateau: option --out: expected DIR, got an empty string");
    const char *tok[] = {"sharpness", "--ckpt", g_run, "--data", "pt", "--tok", "", NULL};
    expect(tok, 2, "plateau: option --tok: expected DIR, got an empty string");
    const char *data[] = {"train", "--init", g_run, "--data", "", "--steps", "1", "--out", "x", NULL};
    expect(data, 2, "plateau: option --data: expected FILES, got an empty string");
    const char *tokenizer[] = {"data", "sft", "--tokenizer", "", "--in", "a.jsonl", "--out", "x", NULL};
    expect(tokenizer, 2, "plateau: option --tokenizer: expected FILE, got an empty string");
    const char *ckpt[] = {"generate", "--ckpt", "", "--prompt", "hi", NULL};
    expect(ckpt, 2, "plateau: option --ckpt: expected DIR, got an empty string");
    const char *input[] = {"merge", step2, "", "--out", "x", NULL};
    expect(input, 2, "plateau: argument 2 is an empty string (see --help)");
}

/* train --lr 1e9 diverges: one message with the step, the value and the
 * hint, exit 1, the checkpoint it started from untouched and no checkpoint
 * with NaN weights. */
static void a_divergent_train_stops_with_one_message(void **state)
{
    (void)state;
    char run_dir[512], out[16384], id_before[CKPT_ID_CHARS + 1], id_after[CKPT_ID_CHARS + 1];
    Err e;
    assert_int_equal(checkpoint_id(g_ckpt, id_before, &e), 0);
    path_in(run_dir, sizeof run_dir, "diverged");
    const char *train[] = {"train", "--init", g_ckpt, "--data", g_shard, "--steps", "40", "--lr", "1e9",
                           "--ckpt-every", "1", "--micro-batch", "2", "--out", run_dir, "--quiet", NULL};
    assert_int_equal(cli_run(train, out, sizeof out), 1);
    const char *msg = strstr(out, "plateau: training diverged at step ");
    if (!msg || !strstr(msg, "Try a lower peak learning rate (train --lr")) fail_msg("train said:\n%s", out);
    long bad = strtol(msg + strlen("plateau: training diverged at step "), NULL, 10);
    assert_true(bad > 4 && bad <= 40);
    assert_null(strstr(out, "train: done"));
    for (long k = 5; k <= 40; k++) {
        char ck[1024];
        checkpoint_step_path(ck, sizeof ck, run_dir, k);
        if (!file_exists(ck)) continue;
        assert_true(k < bad);
        Lineage lin;
        AdamW opt;
        size_t n;
        float *w = checkpoint_files_load(ck, &lin, &opt, &n);
        for (size_t i = 0; i < n; i++)
            if (!isfinite(w[i])) fail_msg("%s: weight %zu is %g", ck, i, (double)w[i]);
        free(w);
        adamw_free(&opt);
    }
    assert_int_equal(checkpoint_id(g_ckpt, id_after, &e), 0);
    assert_string_equal(id_before, id_after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generate_json_is_json_even_for_a_nan_model),
        cmocka_unit_test(generate_fits_the_context),
        cmocka_unit_test(numeric_options_are_range_checked),
        cmocka_unit_test(sharpness_json_to_stdout_and_precond_verdicts),
        cmocka_unit_test(sharpness_finds_the_held_out_shard_of_a_study_folder),
        cmocka_unit_test(merge_and_sft_change_check_what_they_combine),
        cmocka_unit_test(merge_refuses_a_repeated_input_or_option_and_weights_that_merge_nothing),
        cmocka_unit_test(export_refuses_an_existing_out_and_errors_name_the_users_path),
        cmocka_unit_test(help_and_files_match_what_the_commands_do),
        cmocka_unit_test(a_divergent_train_stops_with_one_message),
        cmocka_unit_test(usage_errors_exit_2_in_every_command_and_help_takes_no_value),
        cmocka_unit_test(an_empty_path_is_refused_naming_the_option),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
