/* The study runner: one call runs a study file end to end in an output
 * folder, resumably. The work is split by concept: study_state.h (what the
 * parts share), cost.h (the estimate), segment_run.h (one segment through
 * train/stage.h), stage_eval.h (evaluation and sharpness).
 *
 *   1. data: world, tokenizer and shards (study/prepare.h), built once;
 *   2. plan: the segment DAG (study/plan.h) with the SFT length from the data,
 *      registered in DIR/results.sqlite (study/store.h);
 *   3. an estimate of the duration on this machine (FLOPs of what is left,
 *      at a throughput measured on the study's own model before starting);
 *   4. every segment not yet done, in plan order (or, with --jobs N or
 *      under mpirun, handed to workers as its parent finishes: below),
 *      through the stage setup
 *      that `plateau train` uses (train/stage.h): from its parent's
 *      checkpoint (or the seed's init), with its schedule, step range and
 *      stage recipe (AdamW moments kept from a pre-training parent, reset
 *      for SFT, weight decay 0 there; mid-training continues pre-training's
 *      step clock, so its steps are recorded as T_pre + k); per-step
 *      metrics go to the store as they are produced; the sharpness probe
 *      runs at plan_probe_steps; at the end of a stage the model is
 *      evaluated (pre-training and mid: PT validation loss and the pt suite;
 *      SFT: the sft suite on the SFT validation split and on the held-out
 *      test people); the checkpoint is written
 *      atomically, and only then is the segment marked done;
 *      a merge segment (a wsm arm, study/plan.h) trains nothing: it merges
 *      its inputs' checkpoints (train/merge.h) and is evaluated like the end
 *      of pre-training;
 *   5. the SFT learning rate chosen per base model by the validation split's
 *      continuous score (SFT_LR_CHOICE_METRIC: the mean per-token
 *      log-likelihood of the reference answers, eval/qa.h), which separates
 *      the sweep's points where exact match on a small split cannot.
 *
 * Killing the process at any moment loses at most the segments in progress: a
 * re-run skips done segments and re-runs the interrupted ones from their
 * parents' checkpoints, replacing their partial rows, with the same bits.
 * Ctrl-C (SIGTERM, SIGHUP) outside a wait on --jobs workers still ends the
 * process by the signal, after one line naming what it was doing (preparing
 * the data, timing the machine, the segment it ran): study/interrupt_note.h.
 *
 * Segments side by side (study/farm.h). With `jobs` N > 1 the process runs
 * no segment itself: N worker processes (study/jobs.h) run the segments
 * whose parents are done, each with max(1, T/N) OpenMP threads (T: what the
 * user gave, OMP_NUM_THREADS or the cores), and this process alone writes
 * the store, replaying each worker's recorded calls when its segment ends.
 * A segment's bits depend only on its own thread count, so --jobs N gives
 * the rows of --jobs 1 at OMP_NUM_THREADS = max(1, T/N). The estimate is
 * timed at that thread count and list-schedules the DAG on the N jobs
 * (cost_makespan_seconds); each finished segment refines it. Under mpirun
 * with ranks, the ranks are the workers and `jobs` > 1 is refused. A job
 * that fails, or Ctrl-C, stops every job at once with one message naming
 * the segments that were running; they stay not done. A killed study
 * process takes its jobs with it (they die with their parent). With N = 1
 * (and with the library default) everything runs in this process, as it
 * always has.
 *
 * Store conventions (what the report reads):
 *   evaluations  suite "valid" task "pt" metric "loss"         PT validation loss
 *                suite "pt" task "average" metric "acc"         PT task average (and per-task rows)
 *                suite "pt" task "average" metric "margin"      its continuous companion
 *                suite "sft_valid" task "average" metric "answer_logprob"  LR choice
 *                suite "sft" task "average" metric "exact_match"         reported SFT score
 *                suite "sft" task "average" metric "answer_logprob"      its continuous companion
 *                suite "precond" task "pt" at the end of pre-training (every arm, a merge too):
 *                  metric "top_eig"     largest eigenvalue of P^-1 H (probe/precond.h, Lanczos) on the
 *                                       first batch_tokens / seq_len windows of pt_valid; n = those sequences
 *                  metric "min_eig"     its smallest; n = Lanczos steps taken
 *                  metric "threshold"   Adam's stability threshold at metric "lr"
 *                  metric "lr"          the LR of the last pre-training step
 *                suite "sft_change" at the end of each SFT segment (eval/sft_change.h):
 *                  task "pt" metric "forgetting"        PT validation loss after SFT minus the base's
 *                                                       (same windows); n = tokens scored
 *                  task "weights" metric "rel_distance" ||theta_sft - theta_base|| / ||theta_base||;
 *                                                       n = parameters
 *                  task "sft" metric "trace"            Tr(H) of the SFT model on the SFT probe batch
 *                                                       (Hutchinson, SFT_CHANGE_PROBES probes,
 *                                                       study/stage_eval.h); std_err over probes,
 *                                                       n = probes
 *   items        every item of the pt, sft_valid and sft suites (store.h)
 *   sharpness    data "pt" and "sft" at each probe step of pre-training and
 *                at the end of mid-training, on fixed batches (the first
 *                probe_sequences windows of pt_valid and rows of sft_valid);
 *                Hutchinson runs until its standard error is below 5% of
 *                |Tr(H)| or the study's `probes` (a cap) are spent. */
#ifndef PLATEAU_STUDY_RUNNER_H
#define PLATEAU_STUDY_RUNNER_H

#include "core/error.h"

#include "model/config.h"

#define STUDY_JOBS_AUTO (-1)

typedef struct {
    int quiet;          /* 1: no progress bars, no per-segment lines */
    int max_segments;   /* > 0: stop after running this many segments (the rest on a re-run) */
    int estimate_only;  /* 1: prepare the data, print the plan's size and expected duration, train nothing
                           (`plateau study plan --estimate`); the folder is then ready for `study run` */
    int jobs;           /* segments at once in worker processes (below); <= 1: this process alone;
                           STUDY_JOBS_AUTO: study_default_jobs. Refused (> 1) under mpirun with ranks. */
    int rebuild_data;   /* 1: when out_dir's data was built for other settings, rebuild world/ and data/
                           there (else refused: study/folder.h) */
} StudyRunOptions;

/* Runs (or resumes) the study file spec_path in out_dir.
 *
 * Refused without changing a file out_dir holds (but for the holder's line
 * in its lock file, which a refusal for the lock leaves alone too): while
 * another `study run` or `study calibrate` holds the folder (study/folder.h:
 * its lock, taken by rank 0 alone under mpirun); when out_dir's
 * results.sqlite is not a plateau store or holds another study
 * (study/store.h); when out_dir's data was built for other settings (world,
 * people, vocab, pretrain_tokens of bios, seq_len, the data files), unless
 * o->rebuild_data. A study file that differs from out_dir/study.ini in
 * anything else runs with one line saying so: its plan reuses the
 * segments whose settings did not change. */
int study_run(const char *spec_path, const char *out_dir, const StudyRunOptions *o, Err *e);

/* The worker end of `study run --jobs N` (the hidden `plateau study worker
 * FILE --out DIR --job K`): set up from the study process's first message
 * on JOBS_FD, then runs the segments it is handed until told to stop. */
int study_work(const char *spec_path, const char *out_dir, int job, Err *e);

/* --jobs when the user gives none: T one-thread jobs (T = the threads the
 * user gave) for a model of at most STUDY_JOBS_MAX_PARAMS parameters, else
 * one job with every thread.
 *
 * Why. Two one-thread segments at once beat one two-thread segment exactly
 * when the model's two-thread speedup is below what two independent
 * processes keep of their one-thread speed; the speedup grows with the
 * matrices, so small models gain from jobs and large ones do not (and a
 * job holds a whole model and optimizer). Measured on this 2-core machine:
 *   - micro (1.3M), idle machine (issue 11): 10.6K tokens/s on one thread,
 *     17.2K on two (speedup 1.62): two one-thread jobs do ~1.2x the work.
 *   - greedy generation, which is most of an SFT segment's evaluation,
 *     gains 1.16x (micro) and 1.26x (mini) from a second thread, against
 *     1.76-1.79x for multiple choice (bench/RESULTS.md, bench_eval).
 *   - data parallelism over two one-thread MPI ranks against one two-thread
 *     process (bench/RESULTS.md, bench_dist; the ranks also pay 3-15% for
 *     the gradient sum, which independent segments do not): 0.96-0.98x on
 *     micro, 0.87-0.91x on M (33.6M).
 *   - `plateau train` at 1 and 2 threads (fp32, 4096-token steps, nice 5;
 *     the machine shared at load average 5.6-7.2, so wall-clock rates were
 *     noise, and CPU seconds per token are quoted: they bound the two-thread
 *     efficiency from above, as waiting threads sleep): two-thread CPU
 *     efficiency 0.83 on nano (35K params), 0.84 on micro, 0.89 on mini
 *     (6.8M, the size of the benchmark shape S); two one-thread runs at
 *     once kept 0.82, 0.80 and 1.03 of their alone CPU rate.
 *   - a 14-segment micro study (2 seeds, 2 arms, 2 SFT LRs), run alternately
 *     at load 5.5-7.6: --jobs 2 took 104 and 97 s, --jobs 1 (two threads)
 *     106, 130 and 84 s.
 * So: jobs up to the benchmark shape S and mini (the crossover lies between
 * them and M, where threads win by ~10%), one job above. Commands:
 * OMP_NUM_THREADS=1|2 nice -n 5 plateau train --preset P --vocab 2048 --data
 * pt_train.bin --steps 60|20|6 --micro-batch 16 --seq-len 128
 * --batch-tokens 4096 --precision fp32, CPU time from wait4. */
#define STUDY_JOBS_MAX_PARAMS 10000000
#define STUDY_JOBS_MAX_PARAMS_TEXT "10M"
int study_default_jobs(const Config *c, int threads);

/* Names used in the store. */
#define SFT_LR_CHOICE_METRIC "answer_logprob"
#define STUDY_SPEC_COPY "study.ini"   /* the study file as run, in out_dir */

#endif
