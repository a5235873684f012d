#include "study/calibrate.h"

#include <cJSON.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json_number.h"
#include "data/loader.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include "eval/loss.h"
#include "model/config.h"
#include "model/llama.h"
#include "study/folder.h"
#include "study/prepare.h"
#include "study/spec.h"
#include "study/store.h"
#include "train/adamw.h"
#include "train/loader_source.h"
#include "train/schedule.h"
#include "train/stage.h"
#include "train/trainer.h"

static const double CALIBRATE_FACTORS[] = {0.25, 0.5, 1, 2, 4};
#define N_FACTORS (int)(sizeof CALIBRATE_FACTORS / sizeof CALIBRATE_FACTORS[0])

static double wso_lr(const void *ctx, int64_t step) { return schedule_lr(ctx, step); }

/* One WSO run at peak LR `peak` from the first seed's init; its PT validation loss. */
static int run_point(const StudySpec *s, const StudyData *d, Model *m, AdamW *opt, const Shard *valid, double peak,
                     int64_t steps, CalibrationPoint *pt, Err *e)
{
    int B = s->micro_batch, T = s->seq_len;
    const char *paths[1] = {d->pt_train};
    LoaderConfig lc = {.token_paths = paths, .n_shards = 1, .seq_len = T, .batch_size = B,
                       .n_micro = (int)(s->batch_tokens / ((int64_t)B * T)), .seed = s->seeds[0],
                       .layout = LOADER_STREAM, .vocab_size = m->cfg.vocab_size};
    LoaderSource data;
    if (loader_source_open(&data, &lc, e)) return -1;
    BatchSource src = loader_source(&data);
    model_init_weights(m, s->seeds[0]);
    adamw_reset(opt);
    ScheduleSpec sched = schedule_wso(peak, s->warmup_steps, study_pretrain_steps(s));
    TrainRun run = {.start_step = 0, .end_step = steps, .micro_batch = B, .seq_len = T, .accum = lc.n_micro,
                   .lr = wso_lr, .lr_ctx = &sched};
    int rc = trainer_run(m, opt, &src, &run, NULL, e);
    loader_source_close(&data);
    if (rc && run.diverged) {   /* a point of the sweep, never chosen */
        *pt = (CalibrationPoint){peak, NAN, NAN};
        return 0;
    }
    if (rc) return -1;
    LossResult l;
    if (eval_stream_loss(m, valid->tokens, valid->n_tokens, m->max_B, T, &l, e)) return -1;
    *pt = (CalibrationPoint){peak, l.mean_loss, l.mean_stderr};
    return 0;
}

/* One study key the sweep's model, data or training depends on, as the
 * "setup" object of calibration.json holds it: a number or a string. */
typedef struct {
    const char *key;
    int         is_text;
    double      number;
    char        text[32];
} SetupItem;

#define SETUP_MAX 10

static void add_text(SetupItem *it, int *n, const char *key, const char *text)
{
    it[*n] = (SetupItem){.key = key, .is_text = 1};
    snprintf(it[*n].text, sizeof it[*n].text, "%s", text);
    ++*n;
}

static void add_number(SetupItem *it, int *n, const char *key, double number)
{
    it[(*n)++] = (SetupItem){.key = key, .number = number};
}

/* The setup of a sweep on study s (calibrate.h); fails only when the
 * preset is unknown. */
static int setup_items(const StudySpec *s, SetupItem *it, int *n, Err *e)
{
    int vocab = study_vocab(s, e);
    if (vocab < 0) return -1;
    *n = 0;
    add_text(it, n, "world", world_kind_name(s->world));
    if (s->world == WORLD_BIOS) add_number(it, n, "people", s->people);
    add_text(it, n, "preset", s->preset);
    add_number(it, n, "vocab", vocab);
    add_number(it, n, "seq_len", s->seq_len);
    add_number(it, n, "batch_tokens", (double)s->batch_tokens);
    add_number(it, n, "warmup_steps", (double)s->warmup_steps);
    add_number(it, n, "pretrain_tokens", (double)s->pretrain_tokens);
    add_text(it, n, "precision", precision_name(s->precision));
    return 0;
}

static void setup_value(const SetupItem *it, char *out, size_t size)
{
    if (it->is_text) snprintf(out, size, "\"%s\"", it->text);   /* as JSON writes it */
    else snprintf(out, size, "%.17g", it->number);
}

/* calibration.json; a diverged point's loss is null (json_exact_number). */
static int write_json(const char *out_dir, const StudySpec *s, double fraction, const Calibration *c, Err *e)
{
    SetupItem items[SETUP_MAX];
    int n_items;
    if (setup_items(s, items, &n_items, e)) return -1;
    char path[4096];
    path_join(path, sizeof path, out_dir, CALIBRATE_FILE);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "study", s->name);
    cJSON *setup = cJSON_AddObjectToObject(j, "setup");
    for (int i = 0; i < n_items; i++) {
        if (items[i].is_text) cJSON_AddStringToObject(setup, items[i].key, items[i].text);
        else cJSON_AddNumberToObject(setup, items[i].key, items[i].number);
    }
    json_add_exact(j, "fraction", fraction);
    cJSON_AddNumberToObject(j, "steps", (double)c->steps);
    char seed[24];   /* a uint64 exactly, which a double is not */
    snprintf(seed, sizeof seed, "%" PRIu64, s->seeds[0]);
    cJSON_AddItemToObject(j, "seed", cJSON_CreateRaw(seed));
    cJSON *sweep = cJSON_AddArrayToObject(j, "sweep");
    for (int i = 0; i < c->n; i++) {
        cJSON *pt = cJSON_CreateObject();
        json_add_exact(pt, "peak_lr", c->points[i].peak_lr);
        json_add_exact(pt, "valid_loss", c->points[i].valid_loss);
        json_add_exact(pt, "valid_loss_stderr", c->points[i].valid_loss_stderr);
        cJSON_AddItemToArray(sweep, pt);
    }
    json_add_exact(j, "chosen_peak_lr", c->points[c->chosen].peak_lr);
    int rc = json_write(path, j, e);
    cJSON_Delete(j);
    return rc;
}

/* A folder holding another study's results is not calibrated for this one
 * (its calibration.json would then be cited by the other's report). */
static int check_folder_study(const StudySpec *s, const char *out_dir, Err *e)
{
    char path[4096];
    path_join(path, sizeof path, out_dir, STORE_FILE);
    if (!file_exists(path)) return 0;
    Store *st;
    if (store_open(&st, out_dir, e)) return -1;
    int rc = store_check_study(st, s->name, e);
    store_close(st);
    return rc;
}

static int calibrate_locked(const char *spec_path, const char *out_dir, double fraction, int quiet, int rebuild_data,
                            Calibration *out, Err *e)
{
    memset(out, 0, sizeof *out);
    if (!(fraction > 0 && fraction <= 1)) return err_set(e, "calibration fraction %g: expected (0, 1]", fraction);
    StudySpec s;
    StudyData d;
    char notice[1024];
    if (study_spec_load(&s, spec_path, e) || check_folder_study(&s, out_dir, e) ||
        folder_check_data(&s, out_dir, rebuild_data, notice, sizeof notice, e))   /* a run's data is not rebuilt unasked */
        return -1;
    if (!quiet) fputs(notice, stdout);
    if (study_prepare(&d, &s, out_dir, quiet, e)) return -1;
    out->steps = (int64_t)ceil(fraction * (double)study_pretrain_steps(&s));
    if (out->steps <= s.warmup_steps) out->steps = s.warmup_steps + 1;
    Tokenizer *tk;
    if (tokenizer_load(&tk, d.tokenizer, e)) return -1;
    Config cfg;
    int rc = config_preset(&cfg, s.preset, e);
    cfg.vocab_size = tokenizer_vocab_size(tk);
    cfg.seq_len = s.seq_len;
    tokenizer_free(tk);
    if (rc) return -1;
    Shard valid;
    if (shard_read(&valid, d.pt_valid, e)) return -1;
    Model m;
    if (model_create(&m, &cfg, s.micro_batch, s.seq_len, e)) {
        shard_free(&valid);
        return -1;
    }
    if (model_set_precision(&m, s.precision, e)) {   /* the products as the study runs them */
        model_free(&m);
        shard_free(&valid);
        return -1;
    }
    AdamWConfig oc = stage_adamw(STAGE_PRETRAIN);
    AdamW opt;
    adamw_create(&opt, &oc, &m.table);
    for (int i = 0; i < N_FACTORS && !rc; i++) {
        rc = run_point(&s, &d, &m, &opt, &valid, CALIBRATE_FACTORS[i] * s.peak_lr, out->steps, &out->points[i], e);
        if (rc) break;
        out->n++;
        double best = out->points[out->chosen].valid_loss;   /* a diverged run (NaN) is never chosen */
        if (isnan(best) || out->points[i].valid_loss < best) out->chosen = i;
        if (!quiet && isnan(out->points[i].valid_loss))
            printf("calibrate: peak LR %g: diverged within %" PRId64 " WSO steps\n", out->points[i].peak_lr,
                   out->steps);
        else if (!quiet)
            printf("calibrate: peak LR %g: PT validation loss %.4f ± %.4f after %" PRId64 " WSO steps\n",
                   out->points[i].peak_lr, out->points[i].valid_loss, out->points[i].valid_loss_stderr, out->steps);
    }
    adamw_free(&opt);
    model_free(&m);
    shard_free(&valid);
    if (rc) return -1;
    return write_json(out_dir, &s, fraction, out, e);
}

#define CALIBRATION_MAX_BYTES (1 << 20)

/* The peak LR of the sweep's point with the lowest finite valid_loss
 * (ties to the first, as study_calibrate chooses); NaN when none. */
static double sweep_best(const cJSON *sweep)
{
    double best = NAN, loss = NAN;
    const cJSON *pt, *points = cJSON_IsArray(sweep) ? sweep : NULL;
    cJSON_ArrayForEach(pt, points)
    {
        const cJSON *lr = cJSON_GetObjectItemCaseSensitive(pt, "peak_lr"),
                    *l = cJSON_GetObjectItemCaseSensitive(pt, "valid_loss");
        if (cJSON_IsNumber(lr) && cJSON_IsNumber(l) && isfinite(l->valuedouble) &&
            (isnan(loss) || l->valuedouble < loss)) {
            loss = l->valuedouble;
            best = lr->valuedouble;
        }
    }
    return best;
}

/* The first key in which a sweep's "setup" differs from study s's, as
 * "preset = micro, this study has preset = nano" in why: 1 when one
 * differs (or the setup is missing: why says so), 0 when all agree, -1 on
 * an unknown preset. */
static int setup_differs(const StudySpec *s, const cJSON *setup, char *why, size_t size, Err *e)
{
    SetupItem items[SETUP_MAX];
    int n;
    if (setup_items(s, items, &n, e)) return -1;
    if (!cJSON_IsObject(setup)) {
        snprintf(why, size, "no \"setup\" (the study keys the sweep trained with, which `plateau study calibrate` "
                            "records)");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(setup, items[i].key);
        int same = items[i].is_text ? cJSON_IsString(v) && strcmp(v->valuestring, items[i].text) == 0
                                    : cJSON_IsNumber(v) && v->valuedouble == items[i].number;
        if (same) continue;
        char want[40], got[64];
        setup_value(&items[i], want, sizeof want);
        if (cJSON_IsString(v)) snprintf(got, sizeof got, "\"%.40s\"", v->valuestring);
        else if (cJSON_IsNumber(v)) snprintf(got, sizeof got, "%.17g", v->valuedouble);
        else snprintf(got, sizeof got, "no value");
        snprintf(why, size, "the sweep trained with %s = %s, this study has %s = %s", items[i].key, got,
                 items[i].key, want);
        return 1;
    }
    return 0;
}

/* The sweep's "setup" against the study's: one that differs (or is
 * missing) is refused, naming the key and both values. */
static int check_setup(const StudySpec *s, const char *key, const cJSON *setup, Err *e)
{
    char why[256];
    int d = setup_differs(s, setup, why, sizeof why, e);
    if (d <= 0) return d;
    if (!cJSON_IsObject(setup))
        return err_set(e, "%s: %s = %s: %s: `plateau study calibrate %s` measures this study and records it",
                       s->path, key, s->calibration, why, s->path);
    return err_set(e, "%s: %s = %s: %s (its peak LR was measured on another model, data or batch: `plateau study "
                   "calibrate %s` measures this one)", s->path, key, s->calibration, why, s->path);
}

int calibration_setup_differs(const StudySpec *s, const char *path, char *why, size_t size)
{
    char *text;
    size_t bytes;
    Err e;
    if (read_file(path, &text, &bytes, &e)) return -1;
    cJSON *j = bytes <= CALIBRATION_MAX_BYTES ? cJSON_ParseWithLength(text, bytes) : NULL;
    free(text);
    if (!j) return -1;
    int d = setup_differs(s, cJSON_GetObjectItemCaseSensitive(j, "setup"), why, size, &e);
    cJSON_Delete(j);
    return d;
}

int calibration_read(const StudySpec *s, CalibrationEvidence *ev, Err *e)
{
    memset(ev, 0, sizeof *ev);
    if (!s->calibration[0]) return 0;
    /* relative to the study file's folder, so a study runs from any folder */
    if (s->calibration[0] == '/') snprintf(ev->path, sizeof ev->path, "%s", s->calibration);
    else {
        char dir[STUDY_PATH_MAX];
        path_dirname(dir, sizeof dir, s->path);
        path_join(ev->path, sizeof ev->path, dir, s->calibration);
    }
    const char *key = "[study] calibration";
    if (!file_exists(ev->path))
        return err_set(e, "%s: %s = %s: no such file %s (expected the calibration.json that `plateau study "
                       "calibrate` writes; a relative path is read from the study file's folder)", s->path, key,
                       s->calibration, ev->path);
    if (read_file(ev->path, &ev->text, &ev->bytes, e)) return err_wrap(e, "%s: %s", s->path, key);
    int rc = 0;
    cJSON *j = ev->bytes <= CALIBRATION_MAX_BYTES ? cJSON_ParseWithLength(ev->text, ev->bytes) : NULL;
    const cJSON *study = j ? cJSON_GetObjectItemCaseSensitive(j, "study") : NULL;
    const cJSON *lr = j ? cJSON_GetObjectItemCaseSensitive(j, "chosen_peak_lr") : NULL;
    if (ev->bytes > CALIBRATION_MAX_BYTES)
        rc = err_set(e, "%s: %s = %s: %zu bytes (expected a calibration.json of at most 1 MB)", s->path, key,
                     s->calibration, ev->bytes);
    else if (!j)
        rc = err_set(e, "%s: %s = %s: not JSON (expected the calibration.json that `plateau study calibrate` "
                     "writes)", s->path, key, s->calibration);
    else if (!cJSON_IsNumber(lr) || !isfinite(lr->valuedouble) || !(lr->valuedouble >= DBL_MIN) ||
             lr->valuedouble > 1)
        rc = err_set(e, "%s: %s = %s: expected \"chosen_peak_lr\" to be a learning rate in (0, 1]", s->path, key,
                     s->calibration);
    else if (!cJSON_IsString(study) || strcmp(study->valuestring, s->name) != 0)
        rc = err_set(e, "%s: %s = %s: a calibration of study \"%s\", not of \"%s\" (its model or data may differ: "
                     "`plateau study calibrate %s` measures this one)", s->path, key, s->calibration,
                     cJSON_IsString(study) ? study->valuestring : "?", s->name, s->path);
    else if (!(rc = check_setup(s, key, cJSON_GetObjectItemCaseSensitive(j, "setup"), e)) &&
             sweep_best(cJSON_GetObjectItemCaseSensitive(j, "sweep")) != lr->valuedouble)
        rc = err_set(e, "%s: %s = %s: expected a \"sweep\" of measured points whose lowest PT validation loss is at "
                     "\"chosen_peak_lr\" %g (as `plateau study calibrate` writes it)", s->path, key, s->calibration,
                     lr->valuedouble);
    if (!rc) ev->chosen_peak_lr = lr->valuedouble;
    cJSON_Delete(j);
    if (rc) calibration_free(ev);
    return rc;
}

int calibration_install(const CalibrationEvidence *ev, const char *out_dir, Err *e)
{
    if (!ev->text) return 0;
    char dest[4096];
    path_join(dest, sizeof dest, out_dir, CALIBRATE_FILE);
    if (file_exists(dest)) return 0;
    return write_file_atomic(dest, ev->text, ev->bytes, e) ? -1 : 1;
}

void calibration_free(CalibrationEvidence *ev)
{
    free(ev->text);
    ev->text = NULL;
    ev->bytes = 0;
}

/* The folder locked for the whole calibration: a `study run` into out_dir
 * meanwhile would build the same data and read calibration.json half-way. */
int study_calibrate(const char *spec_path, const char *out_dir, double fraction, int quiet, int rebuild_data,
                    Calibration *out, Err *e)
{
    FolderLock lock;
    memset(out, 0, sizeof *out);
    if (folder_lock(&lock, out_dir, "study calibrate", e)) return -1;
    int rc = calibrate_locked(spec_path, out_dir, fraction, quiet, rebuild_data, out, e);
    folder_unlock(&lock);
    return rc;
}
