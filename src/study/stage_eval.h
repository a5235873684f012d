/* What a study measures on a model, recorded in the store under a segment
 * and a step (study/runner.h lists the store conventions):
 *   - at the end of pre-training or mid-training: the PT validation loss
 *     and the pt suite (multiple choice);
 *   - at the end of SFT: the sft suite (greedy generation, exact match) on
 *     the validation split and on the held-out test items;
 *   - at the end of pre-training also the top eigenvalue of P^-1 H on a
 *     training-size batch beside Adam's threshold (probe/precond.h); at the
 *     end of SFT also what SFT changed (eval/sft_change.h) and the SFT
 *     model's trace on the SFT probe batch;
 *   - sharpness: the Hutchinson trace of the loss on the two fixed probe
 *     batches (PROBE_PT, PROBE_SFT), with the same probe vectors for every
 *     model of every study. */
#ifndef PLATEAU_STUDY_STAGE_EVAL_H
#define PLATEAU_STUDY_STAGE_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "probe/spectrum.h"
#include "study/cost.h"
#include "study/study_state.h"

/* The study's precond_steps (default 8) are Lanczos steps, Hessian-vector
 * products on the training-size batch, for the extreme eigenvalues of
 * P^-1 H (probe/precond.h). Measured on micro models after 40 steps (32 x
 * 128 tokens): on a WSM merge 8 steps agree with power iteration run to
 * convergence (31 products) to 2e-6, where 20 power iterations were 8e-4
 * low and 10 were 6% low; on a WSO model whose top eigenvalue is not the
 * largest in magnitude, 6, 8 and 12 steps gave 5977, 6123 and 6152. Each
 * product costs about four training steps of the same batch. */

/* Hutchinson probes of the SFT model's trace on the SFT probe batch at the
 * end of every SFT run (the study's `probes` if fewer): a fixed count,
 * since SFT runs outnumber base models by the sweep's size; on the micro
 * model the 5% rule took 30-43 probes, 5-6 s of an SFT run's 12. */
#define SFT_CHANGE_PROBES 10

/* Loads the probe batches: the first probe_sequences windows of the PT
 * validation text and rows of the SFT validation split, and the first
 * batch_tokens / seq_len windows of the PT validation text for P^-1 H. */
int stage_eval_load_probes(StudyState *S, Err *e);
void stage_eval_free_probes(StudyState *S);

/* Evaluates the model at the end of segment seg's stage and records it at
 * clock step `step`; appends a summary (" | PT valid loss ...") to line. */
int stage_eval_end(StudyState *S, const PlanSegment *seg, int64_t step, char *line, size_t line_size, Err *e);

/* Probes the sharpness on both batches and records it at clock step `step`
 * of segment `segment`; trace[PROBE_PT] and trace[PROBE_SFT] receive the
 * estimates with their standard errors. */
int stage_eval_sharpness(StudyState *S, const char *segment, int64_t step, TraceEstimate trace[PROBE_DATA_COUNT],
                         Err *e);

/* The estimates of stage_eval_sharpness as a progress line's part,
 * " | Tr(H) pt 812.3 ± 41, sft unresolved (-394 ± 1.8e+03)"
 * (study/findings.h format_trace_estimate), appended to line. */
void stage_eval_sharpness_line(const TraceEstimate trace[PROBE_DATA_COUNT], char *line, size_t size);

/* The time evaluation and sharpness take on this machine, for the study's
 * first estimate (study/cost.h): one probe pair of Hutchinson vectors on
 * the PT batch, and the pt and sft suites on RATE_ITEMS items of each task,
 * unrecorded, on whatever model S holds. *units receives their cost in
 * training-token equivalents as cost.h counts it (generation at max_new
 * tokens, as an untrained model answers), *seconds the time each took;
 * train fields are 0. */
int stage_eval_measure_rates(StudyState *S, Cost *units, Cost *seconds, Err *e);

#endif
