#include "study/regime.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>

#include "core/file.h"
#include "model/config.h"
#include "study/calibrate.h"

/* A number field of a JSON file, or NaN. */
static double json_number(const char *path, const char *field)
{
    char *text;
    size_t bytes;
    Err e;
    if (!file_exists(path) || read_file(path, &text, &bytes, &e)) return NAN;
    cJSON *j = cJSON_ParseWithLength(text, bytes);
    free(text);
    const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, field) : NULL;
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    cJSON_Delete(j);
    return x;
}

int study_regime(Regime *r, const StudySpec *s, const char *dir, Err *e)
{
    *r = (Regime){.tokens_per_param = NAN, .times_seen = NAN, .peak_lr = s->peak_lr, .calibrated_lr = NAN};
    char path[4096];
    path_join(path, sizeof path, dir, "data/data.json");
    double vocab = json_number(path, "vocab"), text = json_number(path, "pt_train_tokens");
    if (!isnan(vocab)) {
        Config c;
        if (config_preset(&c, s->preset, e)) return -1;
        c.vocab_size = (int)vocab;
        c.seq_len = s->seq_len;
        r->params = config_param_count(&c);
        r->tokens_per_param = (double)s->pretrain_tokens / (double)r->params;
    }
    if (text > 0) {
        r->pt_text_tokens = (int64_t)text;
        r->times_seen = (double)s->pretrain_tokens / text;
    }
    path_join(path, sizeof path, dir, CALIBRATE_FILE);
    r->calibrated_lr = json_number(path, "chosen_peak_lr");
    if (!isnan(r->calibrated_lr) && calibration_setup_differs(s, path, r->other_setup, sizeof r->other_setup) != 0) {
        r->calibrated_lr = NAN;   /* a sweep of another model or data says nothing of this one */
        if (!r->other_setup[0]) snprintf(r->other_setup, sizeof r->other_setup, "it cannot be read");
    }
    r->calibrated = !isnan(r->calibrated_lr) && r->calibrated_lr == s->peak_lr;
    return 0;
}

void regime_write(FILE *md, const Regime *r, const StudySpec *s)
{
    fprintf(md, "Regime (the paper's 1B run: 1.2B parameters, about 290 tokens per parameter, each document seen "
                "once, peak LR 3e-4):\n\n");
    if (r->params) fprintf(md, "- parameters: %.2f M (preset %s)\n", (double)r->params / 1e6, s->preset);
    else fprintf(md, "- parameters: unknown until the data are built (preset %s)\n", s->preset);
    if (!isnan(r->tokens_per_param))
        fprintf(md, "- tokens per parameter: %.1f (%.3g M pre-training tokens)\n", r->tokens_per_param,
                (double)s->pretrain_tokens / 1e6);
    if (!isnan(r->times_seen))
        fprintf(md, "- each pre-training document seen %.1f times (%.3g M tokens of text)%s\n", r->times_seen,
                (double)r->pt_text_tokens / 1e6, r->times_seen > 1.05 ? ": the text repeats, unlike the paper's" : "");
    if (r->calibrated)
        fprintf(md, "- peak LR %g: chosen by the calibration sweep (`plateau study calibrate`, %s)\n\n", r->peak_lr,
                CALIBRATE_FILE);
    else if (!isnan(r->calibrated_lr))
        fprintf(md, "- peak LR %g: set in the study file; the calibration sweep (%s) chose %g\n\n", r->peak_lr,
                CALIBRATE_FILE, r->calibrated_lr);
    else if (r->other_setup[0])
        fprintf(md, "- peak LR %g: set in the study file, not chosen by measurement: %s measured another setup (%s) "
                    "and is not cited (`plateau study calibrate` measures this one)\n\n", r->peak_lr, CALIBRATE_FILE,
                r->other_setup);
    else
        fprintf(md, "- peak LR %g: set in the study file, not chosen by measurement (`plateau study calibrate` "
                    "measures it)\n\n", r->peak_lr);
}
