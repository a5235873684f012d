/* plateau sharpness: Tr(H) of a checkpoint's loss on a fixed held-out batch
 * (Hutchinson over exact Hessian-vector products), optionally the top
 * eigenvalue and the Lanczos spectral density; a line on stdout and JSON. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/file.h"
#include "probe/precond.h"
#include "probe/sharpness.h"
#include "train/checkpoint.h"
#include "train/schedule.h"

static const OptSpec OPTS[] = {
    {"ckpt", "DIR", "checkpoint (or run directory: its latest checkpoint) to probe (required)"},
    {"data", "WHAT", "pt (TOK/pretrain_valid_000000.bin or a study's pt_valid.bin), sft (TOK/sft_valid.bin + "
                     ".mask.bin, rows) or a token shard FILE (required)"},
    {"tok", "DIR", "where pt and sft are: a folder of `data tokenize` shards, a study's data folder (or its "
                   "tokenizer.json, or the study's folder) (default tok)"},
    {"mask", "FILE", "with --data FILE: its loss-mask shard (default: every target counts)"},
    {"layout", "L", "with --data FILE: stream (default) or rows (packed rows of T+1, as SFT)"},
    {"batch", "B", "sequences in the probe batch: the first B windows in file order (default 1, the paper's)"},
    {"seq-len", "T", "tokens per sequence (default 1024, the paper's, or the model's context if shorter)"},
    {"probes", "N", "Hutchinson probes (default 50, the paper's)"},
    {"tol", "X", "stop early once std_error/|trace| < X, after --min-probes (default 0: all probes)"},
    {"min-probes", "N", "the stopping rule waits for this many probes (default 10)"},
    {"seed", "S", "seed of the probe stream (default 0)"},
    {"eig", NULL, "also the top eigenvalue by power iteration"},
    {"eig-iters", "N", "power iteration: at most N products (default 100)"},
    {"eig-tol", "X", "power iteration: stop at relative change < X (default 1e-4)"},
    {"precond-eig", NULL, "also the top eigenvalue of P^-1 H, P = diag(sqrt(v_hat)+eps) from the checkpoint's AdamW state"},
    {"density", NULL, "also the spectral density by Lanczos (Ritz values, weights, smoothed curve in --json)"},
    {"lanczos-steps", "K", "Lanczos steps for --density (default 30; keeps K vectors of all parameters)"},
    {"json", "OUT", "write the result as JSON to OUT ('-': stdout, and the summary line goes to stderr)"},
    {"quiet", NULL, "no progress bars"},
    {NULL, NULL, NULL},
};

static const char USAGE[] =
    "plateau sharpness --ckpt DIR --data pt|sft|FILE [--probes N] [--eig] [--precond-eig] [--density] [--seed S] [--json OUT]";
static const char ABOUT[] =
    "Measures the sharpness Tr(H) of a checkpoint's masked mean loss on a fixed held-out batch by\n"
    "Hutchinson's estimator (Rademacher probes) over exact Hessian-vector products, with its\n"
    "standard error. The same --data, --batch, --seq-len and --seed give the same batch and probes\n"
    "for every checkpoint, so the numbers compare across a study.";

/* The probe batch's shards, from --data (and --tok, --mask, --layout). */
typedef struct {
    char         tokens[4096], mask[4096];
    int          has_mask;
    LoaderLayout layout;
} ProbeData;

/* Where the held-out shards of --data pt|sft may lie under the folder of
 * --tok: as `plateau data tokenize` names them, or in a study's data folder
 * (study/prepare.h), which also holds the study's tokenizer.json, or in the
 * data folder of a study's output folder. The SFT mask is the shard's name
 * with .mask.bin. */
static const char *const PT_SHARDS[] = {"pretrain_valid_000000.bin", "pt_valid.bin", "data/pt_valid.bin"};
static const char *const SFT_SHARDS[] = {"sft_valid.bin", "data/sft_valid.bin"};

static int find_named_shard(const char *tok, const char *data, ProbeData *d, Err *e)
{
    /* --tok naming a file (the study's tokenizer.json) means its folder */
    char dir[4096];
    struct stat st;
    if (stat(tok, &st) == 0 && S_ISREG(st.st_mode)) path_dirname(dir, sizeof dir, tok);
    else snprintf(dir, sizeof dir, "%s", tok);
    int pt = strcmp(data, "pt") == 0;
    const char *const *names = pt ? PT_SHARDS : SFT_SHARDS;
    int n = pt ? (int)(sizeof PT_SHARDS / sizeof *PT_SHARDS) : (int)(sizeof SFT_SHARDS / sizeof *SFT_SHARDS);
    for (int i = 0; i < n; i++) {
        path_join(d->tokens, sizeof d->tokens, dir, names[i]);
        if (!file_exists(d->tokens)) continue;
        if (!pt) {
            snprintf(d->mask, sizeof d->mask, "%.*s.mask.bin", (int)(strlen(d->tokens) - 4), d->tokens);
            d->has_mask = 1;
            d->layout = LOADER_ROWS;
        }
        return 0;
    }
    char tried[1024];
    size_t used = 0;
    tried[0] = 0;
    for (int i = 0; i < n && used < sizeof tried; i++)
        used += (size_t)snprintf(tried + used, sizeof tried - used, "%s%s", i ? (i + 1 < n ? ", " : " or ") : "",
                                 names[i]);
    return err_set(e, "--data %s: no held-out %s shard under --tok %s: expected %s in %s (a folder of `plateau data "
                      "tokenize` shards of %s, a study's data folder beside its tokenizer.json, or a study's "
                      "folder), or give a token shard as --data FILE",
                   data, pt ? "pre-training" : "SFT", tok, tried, dir, pt ? "pretrain_valid.txt" : "sft_valid.jsonl");
}

/* The tokenizer beside the shard found under --tok against the
 * checkpoint's: another study's shards would be read with the wrong ids. */
static int check_shard_tokenizer(const char *ckpt, const ProbeData *d, Err *e)
{
    char dir[4096], path[4200];
    path_dirname(dir, sizeof dir, d->tokens);
    path_join(path, sizeof path, dir, "tokenizer.json");
    char mine[4200];
    path_join(mine, sizeof mine, ckpt, "tokenizer.json");
    if (!file_exists(path) || !file_exists(mine)) return 0;   /* nothing to compare */
    int same;
    if (checkpoint_same_tokenizer(ckpt, dir, &same, e)) return -1;
    if (!same)
        return err_set(e, "--tok: %s is not the tokenizer of checkpoint %s (its token ids mean different things): "
                          "give the folder of the study or data the checkpoint was trained on", path, ckpt);
    return 0;
}

static int find_probe_data(const Args *a, const char *data, ProbeData *d, Err *e)
{
    d->has_mask = 0;
    d->layout = LOADER_STREAM;
    if (strcmp(data, "pt") == 0 || strcmp(data, "sft") == 0)
        return find_named_shard(args_str(a, "tok", "tok"), data, d, e);
    snprintf(d->tokens, sizeof d->tokens, "%s", data);
    if (args_has(a, "mask")) {
        snprintf(d->mask, sizeof d->mask, "%s", args_str(a, "mask", ""));
        d->has_mask = 1;
    }
    if (strcmp(args_str(a, "layout", "stream"), "rows") == 0) d->layout = LOADER_ROWS;   /* checked by cmd_sharpness */
    return 0;
}

/* The estimator's settings; *B and *T receive the batch shape. */
static int sharpness_options(const Args *a, const Config *cfg, SharpnessOptions *o, long *B, long *T, Err *e)
{
    long probes, min_probes, seed, eig_iters, steps;
    double tol, eig_tol;
    if (args_long(a, "batch", 1, B, e) || args_long(a, "seq-len", cfg->seq_len < SHARPNESS_PAPER_SEQ_LEN ? cfg->seq_len : SHARPNESS_PAPER_SEQ_LEN, T, e) ||
        args_long(a, "probes", 50, &probes, e) || args_long(a, "min-probes", 10, &min_probes, e) ||
        args_long(a, "seed", 0, &seed, e) || args_long(a, "eig-iters", 100, &eig_iters, e) ||
        args_long(a, "lanczos-steps", 30, &steps, e) || args_double(a, "tol", 0, &tol, e) ||
        args_double(a, "eig-tol", 1e-4, &eig_tol, e))
        return -1;
    if (*B < 1 || *T < 1 || *T > cfg->seq_len)
        return err_set(e, "--batch must be positive and --seq-len in [1, %d]", cfg->seq_len);
    if (probes < 1 || eig_iters < 1 || steps < 1 || tol < 0)
        return err_set(e, "--probes, --eig-iters and --lanczos-steps must be positive, --tol non-negative");
    *o = sharpness_options_default();
    o->probes = (int)probes;
    o->min_probes = (int)min_probes;
    o->rel_tol = tol;
    o->seed = (uint64_t)seed;
    o->eig = args_has(a, "eig");
    o->eig_iters = (int)eig_iters;
    o->eig_tol = eig_tol;
    o->lanczos_steps = args_has(a, "density") ? (int)steps : 0;
    o->progress = !args_has(a, "quiet");
    return 0;
}

/* o->precond = P = diag(sqrt(v_hat) + eps) of the checkpoint's AdamW state
 * (malloc'd), or NULL when the moments are empty (no update taken yet). */
static int adam_precond(const char *dir, const AdamW *opt, int has_opt, SharpnessOptions *o, Err *e)
{
    if (!has_opt)
        return err_set(e, "%s: no optimizer state (train_state.bin): --precond-eig needs AdamW's second moments", dir);
    if (opt->t == 0) return 0;
    float *p = xmalloc(opt->n * sizeof(float));
    if (adam_preconditioner(opt->v, opt->n, opt->cfg.beta2, opt->t, opt->cfg.eps, p, e)) {
        free(p);
        return err_wrap(e, "%s", dir);
    }
    o->precond = p;
    return 0;
}

/* The LR of the checkpoint's next update, from its schedule (NaN: none recorded). */
static double checkpoint_lr(const Lineage *lin)
{
    ScheduleSpec spec;
    Err ignored;
    if (schedule_parse(lin->schedule, &spec, &ignored) != 0) return NAN;
    return schedule_eta(&spec, lin->step - lin->stage_start_step);
}

/* The preconditioned eigenvalue beside Adam's threshold at the checkpoint's
 * LR, or why the two do not compare. */
static void print_precond(FILE *fp, const SharpnessResult *r)
{
    const PrecondVerdict *v = &r->precond;
    if (r->has_precond_eig)
        fprintf(fp, ", P^-1 H top eigenvalue %.6g (%d iterations%s", r->precond_eig.eigenvalue, r->precond_eig.iters,
                r->precond_eig.converged ? "" : ", not converged");
    else
        fprintf(fp, ", P^-1 H top eigenvalue not measured (");
    if (v->unresolved) fprintf(fp, "; unresolved: %s", v->unresolved);
    else fprintf(fp, "; Adam's threshold (2+2b1)/((1-b1) lr) = %.6g at lr %.3g", v->threshold, v->lr);
    fprintf(fp, ")");
}

static void print_result(FILE *fp, const char *dir, const Lineage *lin, const ProbeData *d, const SharpnessResult *r)
{
    fprintf(fp, "%s (step %lld) on %s: Tr(H) = %.6g +- %.2g (%d probes), loss %.5f over %.0f positions (%d x %d)", dir,
           (long long)lin->step, d->tokens, r->trace.mean, r->trace.std_error, r->trace.probes, r->loss,
           r->n_counted, r->B, r->T);
    if (r->has_eig)
        fprintf(fp, ", top eigenvalue %.6g (%d iterations%s)", r->eig.eigenvalue, r->eig.iters,
               r->eig.converged ? "" : ", not converged");
    if (r->has_precond_verdict) print_precond(fp, r);
    if (r->has_density)
        fprintf(fp, ", Ritz values in [%.4g, %.4g]", r->density.values[0], r->density.values[r->density.k - 1]);
    fprintf(fp, ", %.1f s\n", r->seconds);
}

int cmd_sharpness(int argc, char **argv)
{
    Args a;
    Err e;
    if (args_begin(&a, OPTS, argc, argv, USAGE, ABOUT)) return 0;
    const char *ckpt_arg, *data_arg;
    char dir[4096];
    Config cfg;
    long B, T;
    SharpnessOptions o;
    ProbeData d;
    const char *layout = args_str(&a, "layout", "stream");
    if (args_require(&a, "ckpt", &ckpt_arg, &e) || args_require(&a, "data", &data_arg, &e)) args_fail(&e);
    if (strcmp(layout, "rows") && strcmp(layout, "stream")) {
        err_set(&e, "--layout must be stream or rows (got '%s')", layout);
        args_fail(&e);
    }
    if (checkpoint_resolve(ckpt_arg, dir, sizeof dir, &e) || checkpoint_read_config(dir, &cfg, &e) ||
        sharpness_options(&a, &cfg, &o, &B, &T, &e) || find_probe_data(&a, data_arg, &d, &e) ||
        ((!strcmp(data_arg, "pt") || !strcmp(data_arg, "sft")) && check_shard_tokenizer(dir, &d, &e)))
        die(&e);
    Model m;
    Lineage lin;
    Batch batch;
    SharpnessResult r;
    AdamW opt;
    int has_opt = 0, precond = args_has(&a, "precond-eig");
    if (model_create(&m, &cfg, 1, 1, &e)) die(&e);
    adamw_create(&opt, &(AdamWConfig){0}, &m.table);
    if (checkpoint_load(dir, &cfg, m.params, precond ? &opt : NULL, &has_opt, &lin, &e) ||
        (precond && adam_precond(dir, &opt, has_opt, &o, &e)) ||
        probe_batch_load(&batch, d.tokens, d.has_mask ? d.mask : NULL, d.layout, (int)B, (int)T, cfg.vocab_size, &e) ||
        sharpness_measure(&m, &batch, &o, &r, &e))
        die(&e);
    if (precond) {
        r.has_precond_verdict = 1;
        r.precond = precond_verdict(r.has_precond_eig ? r.precond_eig.eigenvalue : NAN, o.precond, opt.n,
                                    opt.cfg.eps, opt.cfg.beta1, checkpoint_lr(&lin));
    }
    const char *json = args_str(&a, "json", NULL);
    print_result(json && strcmp(json, "-") == 0 ? stderr : stdout, dir, &lin, &d, &r);
    char data_desc[8300];
    snprintf(data_desc, sizeof data_desc, "%s%s%s", d.tokens, d.has_mask ? " mask=" : "", d.has_mask ? d.mask : "");
    if (json && sharpness_write_json(json, &r, &o, dir, data_desc, &e)) die(&e);
    sharpness_result_free(&r);
    batch_free(&batch);
    free((float *)o.precond);
    adamw_free(&opt);
    model_free(&m);
    return 0;
}
