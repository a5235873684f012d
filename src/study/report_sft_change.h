/* The report's section on what SFT changes per base model (issue: WSM and
 * the flat-minimum account): one row per arm with, at the SFT LR chosen
 * for each base, the forgetting (PT validation loss after SFT minus
 * before, nats/token), the relative weight distance ||theta_sft -
 * theta_base|| / ||theta_base||, the SFT model's Tr(H) on the SFT probe
 * batch; and for the base at the end of pre-training, Tr(H) on the PT probe
 * batch, the top eigenvalue of P^-1 H on a training-size batch (the same
 * batch_tokens / seq_len sequences for every arm: the eigenvalue scales
 * about as 1/B) and Adam's stability threshold at the last pre-training LR
 * (probe/precond.h). Every cell is the mean over seeds with its 95% t
 * interval (one seed: the value; Tr(H) with one seed: -+ 1.96 standard
 * errors over its probes). The rows go to sft_change.csv as well. */
#ifndef PLATEAU_STUDY_REPORT_SFT_CHANGE_H
#define PLATEAU_STUDY_REPORT_SFT_CHANGE_H

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"
#include "study/report_results.h"

int report_sft_change_write(const ReportResults *R, FILE *md, Err *e);

#endif
